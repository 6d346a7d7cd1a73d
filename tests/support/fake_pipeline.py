"""A tiny stand-in for `worker.pipeline.Pipeline` with the same interface (fast, no models).

Used by tests of the job's plumbing; the end-to-end worker test uses the real pipeline.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from albumify.errors import BadInput
from imaging.photo import Photo
from index.library import CoverRecord

LIBRARY = [
    CoverRecord("lib-1", "covers/1.png", 64, 64, genre="jazz", artist="The Fakes", title="One"),
    CoverRecord("lib-2", "covers/2.png", 64, 64, genre=None, artist=None, title=None),
    CoverRecord("lib-3", "covers/3.png", 64, 64, genre="rock", artist="Three", title="Third"),
]


@dataclass
class FakeResult:
    image: Image.Image
    record: CoverRecord
    similarity: float
    face_found: bool = False
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    faces: int = 0


class FakePipeline:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    @classmethod
    def load(cls, settings: Any) -> FakePipeline:
        return cls()

    def make_cover(
        self, photo: bytes | Photo, options: Any, progress: Callable[[str], None]
    ) -> FakeResult:
        from worker.pipeline import Stage  # the job has imported it already: no extra cost

        self.calls.append(options)
        progress(Stage.DECODING.value)
        if isinstance(photo, Photo):  # decoded by the job, as the real pipeline takes it
            image = photo.image
        else:
            try:
                image = Image.open(io.BytesIO(photo))
                image.load()
            except (UnidentifiedImageError, OSError) as exc:
                raise BadInput("That file is not an image I can read.") from exc
        for stage in list(Stage)[1:]:
            progress(stage.value)
        candidates = [r for r in LIBRARY if r.library_id not in set(options.exclude)]
        if not candidates:
            raise BadInput("No more covers to try.")
        cover = image.convert("RGB").resize((64, 64))
        return FakeResult(cover, candidates[0], 0.8, notes=["no face found: fake pipeline"])


def install(settings: Any = None) -> FakePipeline:
    """Make the job use a FakePipeline (as the worker does with the real one at start)."""
    from worker import job

    fake = FakePipeline()
    job.set_pipeline(fake, settings)
    return fake


def png_bytes(
    size: tuple[int, int] = (32, 32), colour: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()
