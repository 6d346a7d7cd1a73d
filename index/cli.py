"""`albumify index build|add|info`: the lead's CLI calls `add_arguments` under `index`.

Each handler takes the parsed arguments and returns an exit code; failures raise
`albumify.errors` exceptions (BadInput → 3, MissingAsset → 4, UsageError → 2), which the
main CLI maps to exit codes. `main(argv)` runs this module standalone with the same mapping.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from albumify.errors import AlbumifyError, UsageError

# Light: the registry imports a model only when it loads one.
from models.backends import (
    BACKEND_CHOICES,
    available_embedders,
    find_embedder,
    select_embedders,
)


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    """Register `build`, `add` and `info`; each sets `func` to its handler."""
    build = subparsers.add_parser(
        "build",
        help="build a cover index from folders of images",
        description="Walk SRC folders, skip unreadable files and near-duplicates, keep covers "
        "with a usable face, embed them with every available embedder and write INDEX. "
        "An interrupted build resumes when rerun with the same arguments.",
    )
    build.add_argument("sources", nargs="+", metavar="SRC", help="image folders or files")
    build.add_argument("-o", "--output", required=True, metavar="INDEX", help="index directory")
    build.add_argument("--backend", choices=BACKEND_CHOICES, default="auto")
    _scan_arguments(build)
    build.set_defaults(func=build_main)

    add = subparsers.add_parser(
        "add",
        help="append covers to an index, or add an embedder's vectors",
        description="`add INDEX SRC...` appends covers; `add INDEX --embedder NAME` computes "
        "the vectors of an embedder the index lacks, for all its covers.",
    )
    add.add_argument("index", metavar="INDEX")
    add.add_argument("sources", nargs="*", metavar="SRC")
    add.add_argument(
        "--embedder",
        metavar="NAME",
        help="add vectors of an embedder (e.g. resnet50-v2), or psp: cover-face W+",
    )
    _scan_arguments(add)
    add.set_defaults(func=add_main)

    info = subparsers.add_parser("info", help="summarise an index")
    info.add_argument("index", metavar="INDEX")
    info.set_defaults(func=info_main)


def _scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-face",
        type=int,
        default=40,
        metavar="PX",
        help="smallest usable face in cover pixels (default 40)",
    )
    parser.add_argument(
        "--genre-from-folders",
        action="store_true",
        help="take the genre from the first folder below each SRC",
    )
    parser.add_argument(
        "--keep-faceless", action="store_true", help="also keep covers without a usable face"
    )
    parser.add_argument(
        "--dup-distance",
        type=int,
        default=6,
        metavar="BITS",
        help="pHash Hamming distance counted as a duplicate (default 6)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--weights", metavar="DIR", help="weights dir (default $ALBUMIFY_WEIGHTS)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _options(args: argparse.Namespace):  # -> BuildOptions (imported lazily: torch)
    from index.build import BuildOptions

    if args.min_face < 1 or args.batch_size < 1 or not 0 <= args.dup_distance <= 64:
        raise UsageError("--min-face and --batch-size must be ≥ 1, --dup-distance 0–64.")
    return BuildOptions(
        min_face=args.min_face,
        genre_from_folders=args.genre_from_folders,
        keep_faceless=args.keep_faceless,
        max_duplicate_distance=args.dup_distance,
        batch_size=args.batch_size,
    )


def _weights_and_device(args: argparse.Namespace) -> tuple[str, str]:
    from albumify.settings import Settings
    from models.device import pick_device

    weights = args.weights or str(Settings.from_env().weights_dir)
    return weights, str(pick_device(args.device))


def _encode_cover_faces(
    index_dir: str, weights: str, device: str, args: argparse.Namespace, required: bool = False
) -> None:
    """With pSp weights present, store each cover face's W+ so requests encode one face."""
    from albumify.errors import MissingAsset
    from index.face_latents import add_face_latents
    from models.weights import PSP_FFHQ, missing_hint, resolve

    if getattr(args, "backend", "auto") == "classic":
        return
    checkpoint = resolve(PSP_FFHQ, weights)
    if checkpoint is None:
        if required:
            raise MissingAsset(f"{PSP_FFHQ} is not in {weights}: "
                               + missing_hint([PSP_FFHQ], weights))  # fmt: skip
        return
    from models.psp import PSP

    added = add_face_latents(index_dir, PSP.from_checkpoint(checkpoint, device=device),
                             progress=not args.quiet)  # fmt: skip
    print(f"Encoded {added} cover faces to pSp W+ (stored in the index).")


def build_main(args: argparse.Namespace) -> int:
    from index.build import build_index

    options = _options(args)
    weights, device = _weights_and_device(args)
    embedders = select_embedders(args.backend, weights, device)
    report = build_index(
        args.sources, args.output, options, embedders=embedders, progress=not args.quiet
    )
    print(report.summary())
    print("Embedders: " + ", ".join(e.name for e in embedders))
    _encode_cover_faces(args.output, weights, device, args)
    return 0


def add_main(args: argparse.Namespace) -> int:
    from index.build import build_index
    from index.embedding import add_embedder
    from index.library import CoverIndex

    options = _options(args)
    weights, device = _weights_and_device(args)
    if args.embedder:
        if args.sources:
            raise UsageError("Use either SRC... (append covers) or --embedder NAME, not both.")
        if args.embedder == "psp":
            _encode_cover_faces(args.index, weights, device, args, required=True)
            return 0
        embedder = find_embedder(args.embedder, weights, device)
        count = add_embedder(
            args.index, embedder, batch_size=options.batch_size, progress=not args.quiet
        )
        if count:
            print(f"Added {embedder.name} vectors for {count} covers to {args.index}.")
        else:
            print(f"{args.index} already has {embedder.name} vectors.")
        return 0
    if not args.sources:
        raise UsageError("Nothing to add: give SRC folders or --embedder NAME.")
    available = available_embedders(weights, device)
    report = build_index(
        args.sources, args.index, options, embedders=available, append=True,
        progress=not args.quiet,
    )  # fmt: skip
    print(report.summary())
    _encode_cover_faces(args.index, weights, device, args)
    have = set(CoverIndex.load(args.index).embedders)
    for embedder in available:
        if embedder.name not in have:
            print(f"{embedder.name} is available but not in this index: "
                  f"albumify index add {args.index} --embedder {embedder.name}")  # fmt: skip
    return 0


def info_main(args: argparse.Namespace) -> int:
    from index.info import describe_index

    print(describe_index(args.index))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (`python -m index.cli build ...`) with the contract's exit codes."""
    parser = argparse.ArgumentParser(prog="albumify index")
    add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AlbumifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
