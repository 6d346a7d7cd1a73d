import io

import pytest
from PIL import Image

from albumify.errors import BadInput
from imaging.photo import decode_photo, encode_cover
from tests import images

EXPECTED_MESSAGES = {
    "zero-bytes": "empty",
    "truncated-jpeg": "truncated or corrupt",
    "truncated-png": "truncated or corrupt",
    "text": "isn't an image",
    "html": "web page",
    "svg": "SVG",
    "heic": "HEIC",
    "tiny-8x8": "too small",
    "bomb": "decompression bomb",
    "too-large-60mp": "too large",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_MESSAGES))
def test_bad_inputs_are_refused_with_a_specific_message(kind):
    data = images.bad_inputs()[kind]
    with pytest.raises(BadInput) as info:
        decode_photo(data)
    assert EXPECTED_MESSAGES[kind] in str(info.value)
    assert info.value.exit_code == 3


def test_a_100_megapixel_photo_is_too_large_not_a_bomb():
    with pytest.raises(BadInput, match=r"too large \(10000×10000, 100 MP\)"):
        decode_photo(images.more_bad_inputs()["100-megapixel"])


@pytest.mark.parametrize("kind", sorted(images.odd_but_fine_inputs()))
def test_odd_inputs_decode_to_rgb(kind):
    photo = decode_photo(images.odd_but_fine_inputs()[kind])
    assert photo.image.mode == "RGB"
    assert photo.image.size == (320, 240)
    array = photo.array()
    assert array.dtype.name == "uint8" and array.shape == (240, 320, 3)
    if kind.startswith("animated"):
        assert "first frame" in " ".join(photo.notes)
        # The first frame is the gradient, not the blue second frame.
        assert array[..., 0].max() > 200


def test_sixteen_bit_keeps_its_range():
    array = decode_photo(images.odd_but_fine_inputs()["16-bit-png"]).array()
    assert array.min() == 0 and array.max() == 255


@pytest.mark.parametrize(
    "orientation,size", [(1, (300, 200)), (3, (300, 200)), (6, (200, 300)), (8, (200, 300))]
)
def test_exif_orientation_is_applied(orientation, size):
    assert decode_photo(images.exif_rotated(orientation)).image.size == size


def test_large_jpeg_is_decoded_at_reduced_size():
    big = images.encode(images.gradient(4000, 3000), "JPEG", quality=80)
    photo = decode_photo(big)
    assert photo.source_size == (4000, 3000)
    assert max(photo.image.size) <= 2048


def test_path_input(tmp_path):
    path = tmp_path / "photo.png"
    images.gradient().save(path)
    assert decode_photo(path).image.size == (320, 240)


@pytest.mark.parametrize(
    "fmt,magic", [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF")]
)
def test_encode_cover_formats(fmt, magic):
    data = encode_cover(images.gradient(256, 256), fmt)
    assert data.startswith(magic)
    assert Image.open(io.BytesIO(data)).size == (256, 256)


def test_encode_cover_fits_a_byte_budget():
    noisy = Image.effect_noise((1024, 1024), 80).convert("RGB")
    data = encode_cover(noisy, "png", max_bytes=200_000)
    assert len(data) <= 200_000
    assert data.startswith(b"\xff\xd8")
