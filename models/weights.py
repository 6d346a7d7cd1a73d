"""The weights registry: every neural weights file, where it comes from, and what it is for.

Files live in the weights directory (`$ALBUMIFY_WEIGHTS`) under their official names. `fetch`
downloads them resumably and verifies their sha256; a file that is already there is used as it
is (an operator who copies a file in has decided to trust it). This module imports no torch, so
`albumify models fetch|status` starts fast and works on a machine without the worker's stack.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from albumify.errors import EXIT_MISSING_ASSET, EXIT_OK, MissingAsset

if TYPE_CHECKING:
    import requests

URL_BASE_ENV = "ALBUMIFY_WEIGHTS_URL_BASE"
"""When set, every file is fetched from `<base>/<name>` instead of its official URL (a mirror,
or a loopback server in tests)."""

CHUNK_BYTES = 1 << 20
NETWORK_CHUNK_BYTES = 64 << 10
"""Small enough that a dropped connection loses little of what `.part` keeps for resuming."""
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WeightsFile:
    """One file in the registry. `sha256`/`size` are None where we could not pin them yet.

    A pin is a digest the file's *publisher* published: `pin_source` is where (a URL). A digest
    someone else computed is not a pin; where the publisher published none, `unpinned` says
    what was looked for, `models status` shows it, and `fetch` refuses the file by default.
    """

    name: str
    url: str
    sha256: str | None
    size: int | None
    licence: str
    enables: str
    """The backend this file switches on, as `models status` shows it."""
    source: str
    """Where the file officially comes from, for a person downloading it by hand."""
    note: str = ""
    """Licence caveats an operator must read (non-commercial, copyleft)."""
    pin_source: str = ""
    """Where the publisher published `sha256` (required when it is set)."""
    unpinned: str = ""
    """Why there is no pin: where the publisher's release metadata was searched."""


RESNET50 = "resnet50-11ad3fa6.pth"
YOLO_SEG = "yolo11n-seg.pt"
PSP_FFHQ = "psp_ffhq_encode.pt"

PSP_DRIVE_ID = "1bMTNWkh5LArlaWSc_wa8VKyq2V42T2z0"

REGISTRY: dict[str, WeightsFile] = {
    entry.name: entry
    for entry in (
        WeightsFile(
            name=RESNET50,
            url=f"https://download.pytorch.org/models/{RESNET50}",
            # torchvision names the file after the first 8 hex digits of this digest.
            sha256="11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
            size=102_540_417,
            licence="BSD-3-Clause (torchvision)",
            enables="similarity: resnet50-v2 embedder (ImageNet IMAGENET1K_V2, 2048-d)",
            source="torchvision ResNet50_Weights.IMAGENET1K_V2",
            # torchvision publishes the URL, whose name carries the digest's first 8 hex digits
            # (torch.hub's check_hash verifies them); the full digest matches that prefix.
            pin_source="https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py",
        ),
        WeightsFile(
            name=YOLO_SEG,
            url=f"https://github.com/ultralytics/assets/releases/download/v8.3.0/{YOLO_SEG}",
            sha256=None,
            size=None,
            licence="AGPL-3.0 (Ultralytics)",
            enables="person cutout: yolo11n-seg segmenter (COCO class person)",
            source="ultralytics/assets release v8.3.0",
            note="AGPL-3.0: a service using it must offer its source (Albumify is AGPL-3.0).",
            unpinned=(
                "Ultralytics publishes no checksum for it (ultralytics/assets README and tags, "
                "Ultralytics docs); GitHub's Releases API gives each asset a sha256 `digest` "
                "(https://api.github.com/repos/ultralytics/assets/releases/tags/v8.3.0), but no "
                "copy of that metadata could be read when this registry was written"
            ),
        ),
        WeightsFile(
            name=PSP_FFHQ,
            # Google Drive's direct-download endpoint; confirm=t skips the "can't scan large
            # files for viruses" page, which would otherwise arrive instead of the file.
            url=(
                "https://drive.usercontent.google.com/download"
                f"?id={PSP_DRIVE_ID}&export=download&confirm=t"
            ),
            sha256=None,
            size=None,
            licence="non-commercial (FFHQ-trained pSp/StyleGAN2 weights)",
            enables="face synthesis: pSp encoder + StyleGAN2 style mixing",
            source=f"pixel2style2pixel, https://drive.google.com/file/d/{PSP_DRIVE_ID}/view",
            note="NON-COMMERCIAL: trained on FFHQ (CC BY-NC-SA 4.0); StyleGAN2 is NVIDIA's "
            "non-commercial licence. Do not run it in a commercial service.",
            unpinned=(
                "the pSp authors publish only a Google Drive link "
                "(https://github.com/eladrich/pixel2style2pixel#pretrained-models), with no "
                "checksum in the README or the repository"
            ),
        ),
    )
}


class ChecksumMismatch(MissingAsset):
    """A download finished but is not the registered file; nothing is kept."""


def resolve(name: str, weights_dir: Path | str) -> Path | None:
    """The file's path when it is present (non-empty) in `weights_dir`, else None.

    Presence is all we check: hashing a 100 MB file at every worker start would cost seconds
    and the operator may have dropped in a file on purpose.
    """
    path = Path(weights_dir) / name
    try:
        return path if path.is_file() and path.stat().st_size > 0 else None
    except OSError:
        return None


def missing_hint(names: Sequence[str], weights_dir: Path | str) -> str:
    """How to get files into the weights dir, for every MissingAsset message to end with."""
    listed = " ".join(names)
    return (
        f"run `albumify models fetch {listed}`, or copy {', '.join(names)} into {weights_dir} "
        "by hand (see `albumify models status` and the README)"
    )


# --- fetching ---------------------------------------------------------------------------------


def url_for(entry: WeightsFile, base_url_override: str | None = None) -> str:
    base = base_url_override or os.environ.get(URL_BASE_ENV, "").strip()
    return f"{base.rstrip('/')}/{entry.name}" if base else entry.url


def fetch(
    names: Iterable[str] | None,
    weights_dir: Path | str,
    base_url_override: str | None = None,
    *,
    registry: Mapping[str, WeightsFile] = REGISTRY,
    allow_unpinned: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Download each named file (all when `names` is None) that is not already present.

    Raises MissingAsset (or ChecksumMismatch) for the first file that cannot be fetched;
    `fetch_main` calls this one file at a time so one failure doesn't stop the others.
    """
    weights_dir = Path(weights_dir)
    selected = list(registry) if names is None else list(names)
    unknown = [name for name in selected if name not in registry]
    if unknown:
        raise MissingAsset(
            f"unknown weights file(s) {', '.join(unknown)}; known: {', '.join(registry)}"
        )
    paths = []
    for name in selected:
        entry = registry[name]
        present = resolve(name, weights_dir)
        if present is not None:
            paths.append(present)
            continue
        if entry.sha256 is None and not allow_unpinned:
            raise MissingAsset(
                f"{name} has no pinned sha256 in the registry (see `albumify models status`), "
                "so a download could not be verified: pass --allow-unpinned to trust "
                f"{urlparse(entry.url).hostname} (the digest is printed), or copy {name} into "
                f"{weights_dir} by hand"
            )
        paths.append(_download(entry, url_for(entry, base_url_override), weights_dir, progress))
    return paths


def _download(entry: WeightsFile, url: str, weights_dir: Path, progress: bool) -> Path:
    """Resumable download into `<name>.part`, verified, then renamed into place."""
    import requests
    from tqdm import tqdm

    weights_dir.mkdir(parents=True, exist_ok=True)
    final = weights_dir / entry.name
    part = weights_dir / f"{entry.name}.part"
    offset = part.stat().st_size if part.exists() else 0
    if entry.size is not None and offset > entry.size:
        part.unlink()  # longer than the real file: not a prefix of it
        offset = 0
    host = urlparse(url).hostname or url
    offline_hint = f"copy {entry.name} into {weights_dir} by hand; see README"

    # Byte ranges only make sense on the file's own bytes, never on a compressed transfer.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = requests.get(
            url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise MissingAsset(f"can't reach {host}: {offline_hint}") from exc
    except requests.RequestException as exc:
        raise MissingAsset(f"can't download {url} ({exc}): {offline_hint}") from exc

    with response:
        if response.status_code == 416 and offset:
            # The server has nothing past our offset: the .part may already be whole.
            return _verify_and_install(entry, part, final)
        if response.status_code not in (200, 206):
            raise MissingAsset(
                f"{host} answered HTTP {response.status_code} for {url}: {offline_hint}"
            )
        if response.headers.get("Content-Type", "").startswith("text/html"):
            # Google Drive sends a web page (quota, sign-in, virus-scan notice) instead of the file.
            raise MissingAsset(
                f"{host} sent a web page instead of {entry.name} (quota or confirmation page): "
                f"download it from {entry.source} and {offline_hint}"
            )
        if response.status_code == 200 and offset:
            offset = 0  # the server ignored our Range: start over
        if response.status_code == 206 and _range_start(response) != offset:
            part.unlink(missing_ok=True)  # answered some other range: can't splice it on
            raise MissingAsset(
                f"{host} resumed {entry.name} at the wrong offset; the partial download was "
                f"deleted: run the same command again, or {offline_hint}"
            )
        remaining = response.headers.get("Content-Length")
        total = offset + int(remaining) if remaining and remaining.isdigit() else entry.size
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=entry.name,
            file=sys.stderr,
            disable=not progress,
        )
        try:
            with bar, part.open("ab" if offset else "wb") as sink:
                for chunk in response.iter_content(NETWORK_CHUNK_BYTES):
                    sink.write(chunk)
                    bar.update(len(chunk))
        except requests.RequestException as exc:  # ChunkedEncodingError too, mid-body
            raise MissingAsset(
                f"lost the connection to {host} while downloading {entry.name}; run the same "
                f"command again to resume, or {offline_hint}"
            ) from exc
    return _verify_and_install(entry, part, final)


def _range_start(response: requests.Response) -> int | None:
    """First byte of a 206 answer, from `Content-Range: bytes START-END/TOTAL`."""
    content_range = response.headers.get("Content-Range", "")
    unit, _, spec = content_range.partition(" ")
    start = spec.split("-", 1)[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _verify_and_install(entry: WeightsFile, part: Path, final: Path) -> Path:
    got = sha256_of(part)
    if entry.sha256 is None:
        print(f"{entry.name}: sha256 {got} (not pinned in the registry)", file=sys.stderr)
    elif got != entry.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{entry.name} failed its checksum: expected sha256 {entry.sha256}, got {got}; "
            "the download was deleted. Run `albumify models fetch` again, or copy the official "
            f"file into {final.parent} by hand"
        )
    os.replace(part, final)
    return final


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStatus:
    entry: WeightsFile
    path: Path
    present: bool
    size_on_disk: int | None


def status(
    weights_dir: Path | str, registry: Mapping[str, WeightsFile] = REGISTRY
) -> list[FileStatus]:
    rows = []
    for entry in registry.values():
        path = resolve(entry.name, weights_dir)
        rows.append(
            FileStatus(
                entry=entry,
                path=Path(weights_dir) / entry.name,
                present=path is not None,
                size_on_disk=path.stat().st_size if path is not None else None,
            )
        )
    return rows


def format_status(rows: Sequence[FileStatus], weights_dir: Path | str) -> str:
    lines = [f"weights directory: {weights_dir}"]
    for row in rows:
        entry = row.entry
        if row.present:
            state = f"present  {_human_size(row.size_on_disk)}"
        else:
            expected = f" (expected {_human_size(entry.size)})" if entry.size else ""
            state = f"missing{expected}"
        lines.append(f"{entry.name:<24} {state}")
        lines.append(f"    enables: {entry.enables}")
        lines.append(f"    licence: {entry.licence}")
        if entry.note:
            lines.append(f"    note:    {entry.note}")
        if entry.sha256 is None:
            lines.append("    sha256:  not pinned (fetch needs --allow-unpinned)")
            if entry.unpinned:
                lines.append(f"    why:     {entry.unpinned}")
    missing = [row.entry.name for row in rows if not row.present]
    if missing:
        lines.append(
            f"missing files fall back to the classic backends; to add them, "
            f"{missing_hint(missing, weights_dir)}"
        )
    return "\n".join(lines)


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# --- CLI (wired by albumify.cli as `albumify models fetch|status`) -----------------------------


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    """Register `fetch` and `status` on the `models` sub-command's subparsers.

    Each parser gets `func` set to its main, taking the parsed args and returning an exit code.
    """
    fetch_parser = subparsers.add_parser(
        "fetch", help="download neural weights into the weights directory (sha256-verified)"
    )
    fetch_parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"files to fetch (default: {', '.join(REGISTRY)})"
    )
    _add_weights_dir(fetch_parser)
    fetch_parser.add_argument(
        "--url-base", default=None, help=f"fetch <URL_BASE>/<NAME> instead (env {URL_BASE_ENV})"
    )
    fetch_parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept files whose sha256 is not pinned in the registry (prints their digest)",
    )
    fetch_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch_parser.set_defaults(func=fetch_main)

    status_parser = subparsers.add_parser(
        "status", help="list weights files: present or missing, licence, backend they enable"
    )
    _add_weights_dir(status_parser)
    status_parser.set_defaults(func=status_main)


def _add_weights_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="weights directory (default $ALBUMIFY_WEIGHTS, else the per-user cache)",
    )


def _weights_dir(args: argparse.Namespace) -> Path:
    explicit = getattr(args, "weights_dir", None)
    if explicit is not None:
        return Path(explicit)
    from albumify.settings import Settings

    return Settings.from_env().weights_dir


def fetch_main(args: argparse.Namespace) -> int:
    """Fetch each file on its own, so an unreachable host doesn't block the others."""
    weights_dir = _weights_dir(args)
    names = list(getattr(args, "names", None) or REGISTRY)
    failures = 0
    for name in names:
        try:
            (path,) = fetch(
                [name],
                weights_dir,
                getattr(args, "url_base", None),
                allow_unpinned=getattr(args, "allow_unpinned", False),
                progress=not getattr(args, "quiet", False),
            )
        except MissingAsset as exc:
            failures += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        print(f"{name}: {path}")
    return EXIT_MISSING_ASSET if failures else EXIT_OK


def status_main(args: argparse.Namespace) -> int:
    weights_dir = _weights_dir(args)
    print(format_status(status(weights_dir), weights_dir))
    return EXIT_OK
