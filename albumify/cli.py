"""The `albumify` command. Subcommands import what they need when they run, so
`albumify bot` never loads torch and `albumify --help` is instant."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from albumify import errors

FORMAT_SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


def _positive_size(raw: str) -> int:
    try:
        size = int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size must be an integer, got {raw!r}") from exc
    if not 256 <= size <= 4096:
        raise argparse.ArgumentTypeError("--size must be between 256 and 4096")
    return size


def _artist(args: argparse.Namespace, photo: str) -> str:
    """`--artist`, else the photo's file name made readable (a member's display name stands
    in on Discord)."""
    from imaging.titles import artist_from_filename

    return args.artist or artist_from_filename(Path(photo).stem)


def lettering_line(lettering: tuple[str, str] | None) -> str:
    if lettering is None:
        return "lettering: none"
    return "lettering: " + " — ".join(lettering)


def cover_main(args: argparse.Namespace) -> int:
    from albumify.settings import Settings
    from imaging.photo import encode_cover
    from worker.pipeline import CoverOptions, Pipeline

    started = time.perf_counter()
    settings = Settings.from_env()
    pipeline = Pipeline.load(settings, index_dir=args.library, backend=args.backend)
    loaded = time.perf_counter()
    options = CoverOptions(
        title=args.title,
        artist=_artist(args, args.photo),
        advisory=args.advisory,
        lettering=not args.no_lettering,
        seed=args.seed,
        size=args.size,
    )
    result = pipeline.make_cover(Path(args.photo), options)
    out = (
        Path(args.output)
        if args.output
        else Path(args.photo).with_name(
            Path(args.photo).stem + ".cover" + FORMAT_SUFFIX[args.format]
        )
    )
    encode_started = time.perf_counter()
    data = encode_cover(result.image, args.format)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    encode_time = time.perf_counter() - encode_started

    record = result.record
    print(f"matched: {pipeline.index.cover_path(record)}")
    described = " – ".join(x for x in (record.artist, record.title) if x)
    print(
        f"library cover: {record.library_id} ({described or 'untitled'}; "
        f"genre {record.genre or 'unknown'}) similarity {result.similarity:.3f}"
    )
    print("backends: " + ", ".join(f"{k}={v}" for k, v in result.backends.items()))
    print(lettering_line(result.lettering))
    print(f"layout: {result.layout}")
    for note in result.notes:
        print(f"note: {note}")
    timings = {**result.timings, "encoding": encode_time}
    print("stages: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    print(
        f"total {sum(timings.values()) * 1000:.0f} ms per cover "
        f"(+ {(loaded - started):.1f} s loading models)"
    )
    print(f"wrote {out} ({len(data) // 1024} KiB, {result.image.width}×{result.image.height})")
    return errors.EXIT_OK


def sheet_main(args: argparse.Namespace) -> int:
    """Covers of each photo and its re-rolls in one grid, as a member would see them."""
    from albumify.settings import Settings
    from imaging.sheet import contact_sheet
    from worker.pipeline import CoverOptions, Pipeline

    if args.rerolls < 0:
        raise errors.UsageError("--rerolls must be 0 or more")
    pipeline = Pipeline.load(Settings.from_env(), index_dir=args.library, backend=args.backend)
    rows = []
    for photo in args.photos:
        shown: list[str] = []
        row = []
        for _ in range(args.rerolls + 1):
            options = CoverOptions(
                artist=_artist(args, photo),
                lettering=not args.no_lettering,
                seed=args.seed,
                size=args.size,
                exclude=tuple(shown),
            )
            result = pipeline.make_cover(Path(photo), options)
            shown.append(result.record.library_id)
            row.append(result.image)
            print(
                f"{photo}: {result.record.library_id} layout {result.layout}; "
                + lettering_line(result.lettering)
            )
        rows.append(row)
    sheet = contact_sheet(rows, args.size)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".jpg", ".jpeg"):
        sheet.save(out, "JPEG", quality=68, optimize=True, progressive=True)
    else:
        sheet.save(out)
    print(f"wrote {out} ({sheet.width}×{sheet.height}, {len(rows)} photos × {args.rerolls + 1})")
    return errors.EXIT_OK


def _delegate(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), function)(args)

    return run


def bot_main(args: argparse.Namespace) -> int:
    from albumify.settings import Settings
    from bot.app import run

    return run(Settings.from_env())


def worker_main(args: argparse.Namespace) -> int:
    from albumify.settings import Settings
    from worker.service import run

    return run(Settings.from_env(), burst=args.burst, name=args.name)


def load_bench(source: Path | None = None) -> ModuleType:
    """`bench/` is not installed: import it from the checkout this `albumify` was imported from
    (a clone, or an editable install of one). `source` stands in for that checkout in tests.

    The console script's sys.path does not hold the checkout, so it is added here.
    """
    root = source or Path(__file__).resolve().parents[1]
    if not (root / "bench" / "__main__.py").is_file():
        raise errors.UsageError(
            "the benchmarks are not installed with the package; they run from a checkout "
            "of the repository: clone it and run `make bench` there"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("bench.__main__")


def bench_main(args: argparse.Namespace) -> int:
    return load_bench().main_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albumify", description="Not everything can be an album cover."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cover = commands.add_parser("cover", help="make an album cover from a photo")
    cover.add_argument("photo", help="the photo (JPEG, PNG, WebP, GIF, BMP or TIFF)")
    cover.add_argument("-o", "--output", help="where to write the cover (default: next to it)")
    cover.add_argument(
        "--library",
        type=Path,
        default=None,
        help="cover index directory (default: $ALBUMIFY_INDEX, else the generated starter library)",
    )
    cover.add_argument("--size", type=_positive_size, default=1024, help="side in pixels")
    cover.add_argument("--backend", choices=("auto", "classic", "neural"), default="auto")
    cover.add_argument("--title", help="album title to set on the cover")
    cover.add_argument("--artist", help="artist name to set on the cover")
    cover.add_argument("--advisory", action="store_true", help="add a Parental Advisory label")
    cover.add_argument("--seed", type=int, default=0, help="same seed, same cover")
    cover.add_argument("--format", choices=("png", "jpeg", "webp"), default="png")
    cover.add_argument(
        "--no-lettering", action="store_true", help="no artist and no title on the cover"
    )
    cover.set_defaults(func=cover_main)

    sheet = commands.add_parser(
        "sheet", help="a contact sheet: covers of each photo (rows) and their re-rolls (across)"
    )
    sheet.add_argument("photos", nargs="+", metavar="PHOTO")
    sheet.add_argument("-o", "--output", required=True, help="the sheet (.png or .jpg)")
    sheet.add_argument("--rerolls", type=int, default=2, help="re-rolls per photo (default 2)")
    sheet.add_argument("--size", type=_positive_size, default=384, help="side of each cover")
    sheet.add_argument("--library", type=Path, default=None, help="cover index directory")
    sheet.add_argument("--backend", choices=("auto", "classic", "neural"), default="auto")
    sheet.add_argument("--artist", help="artist for every cover (default: each file's name)")
    sheet.add_argument("--seed", type=int, default=0)
    sheet.add_argument("--no-lettering", action="store_true")
    sheet.set_defaults(func=sheet_main)

    commands.add_parser("bot", help="run the Discord bot").set_defaults(func=bot_main)
    worker = commands.add_parser("worker", help="run a GPU/CPU job worker")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--name", help="worker name (default: host + pid)")
    worker.set_defaults(func=worker_main)

    index = commands.add_parser("index", help="build and inspect cover indexes")
    if room := _room(index, "index.cli"):
        room.add_arguments(
            index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
        )

    models = commands.add_parser("models", help="fetch and list model weights")
    if room := _room(models, "models.weights"):
        room.add_arguments(
            models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
        )

    demo = commands.add_parser(
        "demo", help="run bot, worker and a loopback Discord locally; write the chat as HTML"
    )
    # Light to import (aiohttp, redis, rq): the demo's processes load the rest themselves.
    if room := _room(demo, "devtools.demo"):
        room.add_arguments(demo)
        demo.set_defaults(func=_delegate("devtools.demo", "main_from_args"))

    bench = commands.add_parser("bench", help="run the benchmark suite (from a checkout)")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions")
    bench.add_argument("-o", "--output", help="write the markdown report here too")
    bench.set_defaults(func=bench_main)
    return parser


ROOMS = ("bot", "worker", "imaging", "models", "index", "devtools")
"""The packages a subcommand may need. An installation may hold only some: the bot's Docker
image has `albumify` and `bot`, the worker's has no `bot` and no `devtools`."""


def _missing_room(exc: ModuleNotFoundError) -> str | None:
    """The room an import failed for because it is not installed (not broken inside)."""
    room = (exc.name or "").split(".", 1)[0]
    if room in ROOMS and importlib.util.find_spec(room) is None:
        return room
    return None


def _room(parser: argparse.ArgumentParser, module: str) -> ModuleType | None:
    """The module that defines a subcommand's arguments (its heavy imports stay inside its
    handlers); None, with a handler that says so, where its room is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (room := _missing_room(exc)) is None:
            raise
        parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(func=_not_installed(room))
        return None


def _not_installed(room: str) -> Callable[[argparse.Namespace], int]:
    def refuse(args: argparse.Namespace) -> int:
        raise errors.UsageError(_not_installed_text(args.command, room))

    return refuse


def _not_installed_text(command: str, room: str) -> str:
    return (
        f"`albumify {command}` needs the {room}/ package, which this installation does not "
        "include (the bot's Docker image holds only the bot; the worker's has no bot)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except errors.AlbumifyError as exc:
        print(f"albumify: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if (room := _missing_room(exc)) is None:
            raise
        print(f"albumify: {_not_installed_text(args.command, room)}", file=sys.stderr)
        return errors.EXIT_USAGE
    except KeyboardInterrupt:
        print("albumify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
