"""The numbered-faces preview: a small copy of the photo with each face boxed and numbered.

The member picks "Face N" in a select under it, so the numbers must sit on the faces they
name: badge N is drawn at the top-left corner of box N (inside the image), the face the cover
uses now in green, the others in white.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from imaging.typography import DEFAULT_FONT, font_for

PREVIEW_SIDE = 640
"""The preview's long side: big enough to tell faces apart on a phone, small to upload."""
CURRENT = (46, 204, 113)
OTHER = (255, 255, 255)
INK = (16, 16, 20)

Box = tuple[float, float, float, float]


def badge_centre(box: Box, radius: float, size: tuple[int, int]) -> tuple[float, float]:
    """Where face `box`'s number goes: on its top-left corner, kept inside the image."""
    x = min(max(box[0], radius), size[0] - radius)
    y = min(max(box[1], radius), size[1] - radius)
    return x, y


def numbered_faces(
    image: Image.Image, boxes: Sequence[Box], *, current: int = 1, side: int = PREVIEW_SIDE
) -> Image.Image:
    """`image` scaled so its long side is at most `side`, with box i (0-based) drawn and
    numbered i + 1; `boxes` are in `image`'s pixels, in the order the member will pick from."""
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    preview = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(preview)
    radius = max(9, round(max(size) / 40))
    font = font_for("0123456789", DEFAULT_FONT, round(radius * 1.3))
    line = max(2, radius // 5)
    for number, box in enumerate(boxes, 1):
        colour = CURRENT if number == current else OTHER
        scaled = tuple(v * scale for v in box)
        draw.rectangle(scaled, outline=INK, width=line + 2)
        draw.rectangle(scaled, outline=colour, width=line)
        x, y = badge_centre(scaled, radius, size)  # type: ignore[arg-type]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline=INK)
        draw.text((x, y), str(number), fill=INK, font=font, anchor="mm")
    return preview
