"""Per-cover layout hints decided once at build time: where a member's cutout fits and how the
title should be set, so the worker composes without re-analysing the library cover."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

FONTS = ("anton", "bebas-neue", "oswald", "playfair-display", "archivo-black", "space-grotesk")
_FONT_BY_GENRE = {
    "rock": "anton",
    "metal": "anton",
    "punk": "anton",
    "hip-hop": "archivo-black",
    "hip hop": "archivo-black",
    "rap": "archivo-black",
    "r&b": "playfair-display",
    "jazz": "playfair-display",
    "classical": "playfair-display",
    "soul": "playfair-display",
    "blues": "playfair-display",
    "electronic": "space-grotesk",
    "techno": "space-grotesk",
    "house": "space-grotesk",
    "ambient": "space-grotesk",
    "indie": "oswald",
    "alternative": "oswald",
    "folk": "oswald",
    "country": "oswald",
    "pop": "bebas-neue",
    "dance": "bebas-neue",
    "k-pop": "bebas-neue",
}
BAND = 0.22
"""Height of the top/bottom text band, as a fraction of the cover."""


def font_for_genre(genre: str | None) -> str:
    """A display font that suits the genre; unknown genres get a stable pick among all."""
    if not genre:
        return "bebas-neue"
    key = genre.strip().lower()
    if key in _FONT_BY_GENRE:
        return _FONT_BY_GENRE[key]
    for word, font in _FONT_BY_GENRE.items():
        if word in key:
            return font
    return FONTS[sum(key.encode()) % len(FONTS)]


def placement_for_face(
    box: tuple[float, float, float, float] | list[float] | None, width: int, height: int
) -> list[float]:
    """Where a member's head-and-shoulders cutout fits: over the cover's face and below it.

    About three face widths wide, from a little above the face to four face heights below
    (a torso), clamped to the cover; as fractions x0, y0, x1, y1. No face → a centred default.
    """
    if box is None:
        return [0.2, 0.2, 0.8, 0.95]
    x0, y0, x1, y1 = box
    face_w, face_h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    left, right = cx - 1.6 * face_w, cx + 1.6 * face_w
    top, bottom = y0 - 0.5 * face_h, y1 + 4.0 * face_h
    return [
        round(max(0.0, left / width), 4),
        round(max(0.0, top / height), 4),
        round(min(1.0, right / width), 4),
        round(min(1.0, bottom / height), 4),
    ]


def typography_style(
    rgb: np.ndarray,
    face_box: tuple[float, float, float, float] | list[float] | None,
    genre: str | None,
) -> dict[str, Any]:
    """Font by genre, text on the band the face leaves free, colours that contrast that band.

    Keys follow `imaging.typography.TypeStyle.from_record` (and the starter library): font,
    layout, text_colour; plus shadow_colour, accent_colour, and grain (the cover's own noise
    level, so a pasted cutout can be given matching grain)."""
    height = rgb.shape[0]
    face_centre_y = (face_box[1] + face_box[3]) / 2 / height if face_box else 0.5
    layout = "bottom" if face_centre_y < 0.5 else "top"
    band_rows = max(1, round(height * BAND))
    band = rgb[:band_rows] if layout == "top" else rgb[-band_rows:]
    lab = cv2.cvtColor(np.ascontiguousarray(band), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    lightness = float(lab[:, 0].mean()) / 255.0
    mean_rgb = band.reshape(-1, 3).mean(axis=0)
    dark_band = lightness < 0.55
    return {
        "font": font_for_genre(genre),
        "layout": layout,
        "text_colour": "#f5f5f0" if dark_band else "#141414",
        "shadow_colour": "#000000" if dark_band else "#ffffff",
        "accent_colour": _hex(_complement(mean_rgb)),
        "band_lightness": round(lightness, 3),
        "grain": grain_level(rgb),
    }


def grain_level(rgb: np.ndarray) -> float:
    """Fine noise of the cover (std of grey minus its 3×3 blur, 0–1 scale), capped at 0.08."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    residual = grey - cv2.blur(grey, (3, 3))
    return round(min(0.08, float(residual.std()) / 255.0), 4)


def _complement(rgb: np.ndarray) -> np.ndarray:
    """The band colour's hue turned half-way round, saturated enough to read as an accent."""
    pixel = np.clip(rgb, 0, 255).astype(np.uint8).reshape(1, 1, 3)
    hue, _, _ = cv2.cvtColor(pixel, cv2.COLOR_RGB2HSV)[0, 0]
    accent = np.array([[[(int(hue) + 90) % 180, 200, 230]]], dtype=np.uint8)
    return cv2.cvtColor(accent, cv2.COLOR_HSV2RGB)[0, 0]


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)
