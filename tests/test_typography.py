import numpy as np
import pytest
from PIL import Image

from imaging.typography import TypeStyle, clean_text, draw_lettering, font_for


def test_latin_uses_the_display_face_and_hangul_falls_back_to_nanum():
    assert "Anton" in font_for("ROCK", "anton", 40).getname()[0]
    assert "Nanum" in font_for("앨범 커버", "anton", 40).getname()[0]


def test_member_text_is_cleaned_and_limited():
    assert clean_text("  a\u0000b\n\tc  ", 10) == "ab c"
    assert clean_text("x" * 500, 60) == "x" * 60
    assert clean_text(None, 10) == ""
    assert clean_text("@everyone hi", 60) == "@everyone hi"  # rendered, never sent as a ping


def test_lettering_is_deterministic_and_visible():
    base = Image.new("RGB", (512, 512), (20, 30, 40))
    style = TypeStyle(font="oswald", layout="bottom", text_colour=(255, 255, 255))
    one = draw_lettering(base, "아이유", "Palette", style, seed=3)
    two = draw_lettering(base, "아이유", "Palette", style, seed=3)
    assert np.array_equal(np.asarray(one), np.asarray(two))
    changed = np.abs(np.asarray(one, np.int16) - np.asarray(base, np.int16)).sum(-1) > 0
    ys, _ = np.nonzero(changed)
    assert ys.min() > 256  # bottom layout


@pytest.mark.parametrize("layout", ["top", "bottom", "top-left", "bottom-left"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_lettering_composited_in_its_box_equals_the_whole_cover_composite(
    layout, mode, monkeypatch
):
    cover = Image.fromarray(np.random.default_rng(1).integers(0, 256, (640, 640, 3), np.uint8))
    cover = cover.convert(mode)
    style = TypeStyle(font="playfair-display", layout=layout, text_colour=(255, 189, 0))
    texts = [("Eileen Collins", "Mission Control"), ("아이유", ""), ("", "Only a title")]
    ours = [draw_lettering(cover, artist, title, style, seed=3) for artist, title in texts]
    # A box as large as the cover: the lettering composited over all of it, as it used to be.
    monkeypatch.setattr(Image.Image, "getbbox", lambda image, **_: (0, 0, *image.size))
    for (artist, title), image in zip(texts, ours, strict=True):
        whole = draw_lettering(cover, artist, title, style, seed=3)
        assert image.mode == whole.mode == "RGB"
        assert np.array_equal(np.asarray(image), np.asarray(whole))
