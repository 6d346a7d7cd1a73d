"""The real photo set: every photo comes out of its package, each case the issue asks for is
there, and the CLI writes them with their licences."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from tests import photos
from tests.photos import PHOTOS, Kind


def test_every_case_is_covered_by_real_photos() -> None:
    kinds = [p.kind for p in PHOTOS]
    assert len(PHOTOS) >= 10
    assert kinds.count(Kind.NEIGHBOURS) >= 6 and kinds.count(Kind.NO_FACE) >= 2
    assert {Kind.PORTRAIT, Kind.SMALL_FACE, Kind.GROUP} <= set(kinds)
    assert len({p.name for p in PHOTOS}) == len(PHOTOS)
    assert all(p.source.licence for p in PHOTOS)
    assert sum(p.source.public_domain for p in PHOTOS) >= 6  # enough to show in the README


@pytest.mark.parametrize("entry", PHOTOS, ids=lambda p: p.name)
def test_each_photo_comes_out_of_its_package(entry: photos.Photo) -> None:
    image = entry.image()
    assert image.mode == "RGB" and min(image.size) >= 100
    if entry.crop is not None:
        x0, y0, x1, y1 = entry.crop
        assert image.size == (x1 - x0, y1 - y0)
    if entry.long_side is not None:
        assert max(image.size) == entry.long_side


def test_reading_a_photo_imports_nothing_of_its_package() -> None:
    photos.source_bytes.cache_clear()
    before = set(sys.modules)
    for entry in PHOTOS:
        entry.image()
    assert not {"skimage", "insightface", "ultralytics", "matplotlib"} & (set(sys.modules) - before)


def test_a_package_that_is_not_installed_is_read_from_its_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = photos.HOPPER
    installed = photos.package_file(source.package, source.path)
    assert installed is not None
    with zipfile.ZipFile(tmp_path / "matplotlib-0-py3-none-any.whl", "w") as wheel:
        wheel.write(installed, f"{source.package}/{source.path}")
    monkeypatch.setattr(photos, "package_file", lambda package, path: None)
    photos.source_bytes.cache_clear()
    with pytest.raises(photos.PhotoUnavailable, match=photos.WHEELS_ENV):
        photos.read_source(source)
    monkeypatch.setenv(photos.WHEELS_ENV, str(tmp_path))
    assert photos.read_source(source).size == (512, 600)
    photos.source_bytes.cache_clear()


def test_the_variety_set_has_fifty_distinct_photos() -> None:
    named = photos.variety_set()
    assert len(named) >= 50
    assert len({name for name, _ in named}) == len(named)
    sizes = {name: image.size for name, image in named}
    assert sizes["astronaut-half"] == (256, 256) and sizes["astronaut-rot7"] != (512, 512)


def test_the_cli_writes_the_photos_and_their_licences(tmp_path: Path) -> None:
    assert photos.main([str(tmp_path), "--public-domain"]) == 0
    written = sorted(p.stem for p in tmp_path.glob("*.png"))
    assert written == sorted(p.name for p in PHOTOS if p.source.public_domain)
    licences = (tmp_path / "LICENCES.txt").read_text(encoding="utf-8")
    assert "grace-hopper.png (portrait): matplotlib/" in licences and "public domain" in licences
    assert "poker" not in licences
