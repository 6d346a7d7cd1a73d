"""`albumify cover`: outputs, messages and the exit codes of the contract."""

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from albumify import cli, errors
from albumify.cli import main
from tests import images
from tests.conftest import ROOT


def test_cover_writes_the_requested_file_and_prints_the_match(tmp_path, capsys):
    out = tmp_path / "cover.webp"
    code = main(
        [
            "cover",
            str(images.EXAMPLE),
            "-o",
            str(out),
            "--size",
            "512",
            "--format",
            "webp",
            "--title",
            "T",
            "--artist",
            "A",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "matched: " in printed and "starter-index/covers/" in printed
    assert "stages: decoding" in printed and "faces" in printed and "ms" in printed
    with Image.open(out) as cover:
        assert cover.format == "WEBP" and cover.size == (512, 512)


def test_bad_photo_exits_3_with_a_message(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    assert main(["cover", str(bad), "-o", str(tmp_path / "x.png")]) == 3
    assert "isn't an image" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_missing_photo_exits_3(tmp_path, capsys):
    assert main(["cover", str(tmp_path / "missing.png")]) == 3
    assert "Can't read" in capsys.readouterr().err


def test_plain_image_folder_as_library_exits_4(tmp_path, capsys):
    images.gradient().save(tmp_path / "a.png")
    assert main(["cover", str(images.EXAMPLE), "--library", str(tmp_path)]) == 4
    assert "albumify index build" in capsys.readouterr().err


def test_missing_library_exits_4(tmp_path, capsys):
    assert main(["cover", str(images.EXAMPLE), "--library", str(tmp_path / "none")]) == 4
    assert "No cover index" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["cover"],
        ["cover", "x.png", "--size", "12"],
        ["cover", "x.png", "--format", "gif"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_console_entry_point_and_torch_free_help():
    """`albumify --help` answers without importing torch (subcommands import lazily)."""
    code = (
        "import sys; from albumify.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cover" in done.stdout and "index" in done.stdout


def test_bench_outside_a_checkout_says_it_needs_one_and_exits_2(tmp_path, monkeypatch, capsys):
    """Installed, there is no `bench/` next to the package (it is not packaged)."""
    with pytest.raises(errors.UsageError) as info:
        cli.load_bench(tmp_path)
    assert info.value.exit_code == errors.EXIT_USAGE == 2
    in_checkout = cli.load_bench
    monkeypatch.setattr(cli, "load_bench", lambda: in_checkout(tmp_path))
    assert main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "checkout" in err and "make bench" in err


def test_bench_from_a_checkout_finds_it_without_the_checkout_on_sys_path(monkeypatch):
    """The console script's sys.path lacks the checkout: `albumify bench` adds it itself."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT])
    for name in [n for n in sys.modules if n == "bench" or n.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    module = cli.load_bench()
    assert Path(module.__file__) == ROOT / "bench" / "__main__.py"
    assert callable(module.main_from_args) and str(ROOT) in sys.path
