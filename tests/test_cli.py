"""`albumify cover`: outputs, messages and the exit codes of the contract."""

import subprocess
import sys

import pytest
from PIL import Image

from albumify.cli import main
from tests import images


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
