"""What `pip install` gives: the dev tools and the demo's photo, never tests/ or bench/.

The wheel is built from a copy of the checkout (a build writes build/ and *.egg-info next to
the sources) and unpacked, which is all installing a pure-Python wheel does; the installed
copy then runs with the checkout off its path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devtools.demo import example_photo
from tests.conftest import EXAMPLE_PHOTO, ROOT

NOT_SOURCES = (".git", ".venv", ".*cache", "out", "build", "dist", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    offline = ("--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir", "--quiet")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "--wheel-dir", str(work), str(source)],
        check=True,
        timeout=120,
    )
    (built,) = work.glob("albumify-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_the_demo_loads_the_packaged_photo():
    photo = example_photo()
    assert photo.startswith(b"\x89PNG\r\n\x1a\n")
    assert photo == EXAMPLE_PHOTO.read_bytes()


def test_the_wheel_holds_the_dev_tools_and_the_photo_but_no_tests_or_bench(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "devtools").rglob("*.py")}
    assert "devtools/fakediscord/server.py" in modules
    assert modules <= names, modules - names
    assert "devtools/data/astronaut.png" in names
    assert not [n for n in names if n.split("/")[0] in ("tests", "bench", "examples")]


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """A Python that imports the project from `site`, started outside the checkout."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, timeout=120
    )


def test_installed_demo_has_its_photo_and_needs_no_checkout(installed, tmp_path):
    code = (
        "import sys, albumify, devtools.demo as demo, devtools.fakediscord.stack as stack\n"
        "assert albumify.__file__.startswith(sys.argv[1]), albumify.__file__\n"
        "assert stack.CHECKOUT is None, stack.CHECKOUT\n"
        "sys.stdout.buffer.write(demo.example_photo())\n"
    )
    done = run_installed(installed, tmp_path, "-c", code, str(installed))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == EXAMPLE_PHOTO.read_bytes()


def test_installed_bench_says_it_needs_a_checkout(installed, tmp_path):
    """The parser loads `albumify demo`'s options from the installed dev tools on the way."""
    done = run_installed(installed, tmp_path, "-m", "albumify", "bench", "--quick")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "checkout" in err and "make bench" in err
