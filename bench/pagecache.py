"""The OS page cache, for cold-start measurements: evict files from it and see what stays.

A worker on a freshly booted (or newly scaled) node reads its Python packages and weights from
disk; a worker restarted on a busy host finds them in RAM. `posix_fadvise(DONTNEED)` drops a
file's clean, unmapped pages without root, which turns the second case into the first. Pages
that another process has mapped (the bench itself, once it has imported torch) stay, so
`resident_bytes` reports what eviction could not drop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path


def python_files() -> list[Path]:
    """Where a worker's interpreter reads its code and libraries: stdlib and site-packages."""
    paths = sysconfig.get_paths()
    return sorted({Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")})


def regular_files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
            continue
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                if path.is_file() and not path.is_symlink():
                    yield path


def evict(roots: Iterable[Path]) -> int:
    """Drop the files under ``roots`` from the page cache; returns their total size."""
    total = 0
    for path in regular_files(roots):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            total += os.fstat(fd).st_size
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return total


def resident_bytes(roots: Iterable[Path], min_size: int = 1 << 20) -> int | None:
    """Bytes of the files (≥ ``min_size``: the ones that matter) still in the page cache,
    from util-linux `fincore`; None where it is not installed."""
    fincore = shutil.which("fincore")
    if fincore is None:
        return None
    files = [str(p) for p in regular_files(roots) if p.stat().st_size >= min_size]
    resident = 0
    for start in range(0, len(files), 200):
        out = subprocess.run(
            [
                fincore,
                "--bytes",
                "--raw",
                "--noheadings",
                "--output",
                "RES",
                *files[start : start + 200],
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        resident += sum(int(line) for line in out.split() if line.isdigit())
    return resident
