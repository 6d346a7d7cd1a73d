"""Photo → album cover: the stages in order, each behind the interface its neural twin uses.

`Pipeline.load` builds every model once (a worker keeps it for its lifetime), as the backend
registry (`models.backends`) chooses them; per photo it runs each stage's fallback chain;
`make_cover` runs one photo and reports which library cover it matched, what it noticed and
how long each stage took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from albumify.settings import Limits, Settings, starter_index_dir
from imaging import compose
from imaging.photo import Photo, decode_photo
from imaging.typography import TypeStyle, clean_text, draw_advisory, draw_lettering
from index.library import CoverIndex, CoverRecord
from models.backends import Stages, build_stages, select_backends
from models.embedder import Embedder
from models.faces import main_face
from models.segmenter import OvalMatte

Progress = Callable[[str], None]


class Stage(StrEnum):
    """What `make_cover` reports to `progress`, in order, and keys its timings by."""

    DECODING = "decoding"
    FACES = "faces"
    MATCHING = "matching"
    CUTOUT = "cutout"
    FACE = "face"
    COMPOSING = "composing"


@dataclass(frozen=True)
class CoverOptions:
    title: str | None = None
    artist: str | None = None
    advisory: bool = False
    seed: int = 0
    size: int = 1024
    exclude: tuple[str, ...] = ()
    """Library ids already shown for this photo: a re-roll asks for the next best."""


@dataclass
class CoverResult:
    image: Image.Image
    record: CoverRecord
    similarity: float
    face_found: bool
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)


def load_index(index_dir: Path | None, embedders: Sequence[Embedder]) -> CoverIndex:
    if index_dir is not None:
        return CoverIndex.load(index_dir)
    from index.starter import ensure_starter_index

    return ensure_starter_index(starter_index_dir(), embedders)


class Pipeline:
    def __init__(self, index: CoverIndex, stages: Stages, limits: Limits | None = None):
        self.index = index
        self.stages = stages
        self.limits = limits or Limits()
        if not index.has_embedder(stages.embedder.name):
            # CoverIndex.vectors raises the "how to add them" error; surface it at load time.
            index.vectors(stages.embedder.name)

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        index_dir: Path | None = None,
        backend: str | None = None,
        device: str | None = None,
    ) -> Pipeline:
        settings = settings or Settings.from_env()
        backends = select_backends(settings.weights_dir, backend or settings.backend, device)
        # The starter library carries vectors of every embedder in play (the classic always).
        embedders = backends.load_embedders()
        index = load_index(index_dir or settings.index_dir, embedders)
        stages = build_stages(backends, embedders, set(index.embedders), index.wplus)
        stages.compile(settings.compile_mode)
        return cls(index, stages, settings.limits)

    def warm_up(self) -> float:
        """Run every stage once on a synthetic photo so the first member doesn't pay for
        lazy initialisation (oneDNN kernels, CUDA context, cover decoding). Returns seconds."""
        start = time.perf_counter()
        ys, xs = np.mgrid[0:480, 0:640]
        synthetic = np.stack([xs % 256, ys % 256, (xs + ys) % 256], -1).astype(np.uint8)
        photo = Photo(Image.fromarray(synthetic), (640, 480), "PNG")
        self.make_cover(photo, CoverOptions(size=self.limits.cover_size))
        warm = getattr(self.stages.styler, "warm_up", None)
        if warm is not None:
            warm()
        return time.perf_counter() - start

    # -- one photo --------------------------------------------------------------------------
    def make_cover(
        self,
        photo: bytes | str | Path | Photo,
        options: CoverOptions | None = None,
        progress: Progress | None = None,
    ) -> CoverResult:
        options = options or CoverOptions()
        timings: dict[str, float] = {}

        @contextmanager
        def stage(name: Stage) -> Iterator[None]:
            if progress is not None:
                progress(name.value)
            start = time.perf_counter()
            yield
            timings[name.value] = timings.get(name.value, 0.0) + time.perf_counter() - start

        with stage(Stage.DECODING):
            if not isinstance(photo, Photo):
                photo = decode_photo(photo, max_pixels=self.limits.max_pixels)
            rgb = photo.array()
        notes = list(photo.notes)

        with stage(Stage.FACES):
            faces = self.stages.detector.detect(rgb)
            face = main_face(faces, (rgb.shape[1], rgb.shape[0]))
        if len(faces) > 1:
            notes.append(f"{len(faces)} faces found: used the most prominent one")

        with stage(Stage.MATCHING):
            query = self.stages.embedder([rgb])[0]
            hits = self.index.search(query, self.stages.embedder.name, k=1, exclude=options.exclude)
            if not hits:  # every cover shown already: start the round again
                hits = self.index.search(query, self.stages.embedder.name, k=1)
                notes.append("every library cover was shown for this photo: starting over")
            if not hits:
                raise ValueError("the cover library is empty")
            hit = hits[0]
            cover = self._cover_pixels(hit.record, options.size)

        backends = self.stages.names()
        if face is None:
            notes.append("no face found: the photo itself became the cover art")
            with stage(Stage.COMPOSING):
                art = self._faceless_art(rgb, cover, options)
        else:
            with stage(Stage.CUTOUT):
                others = [f for f in faces if f is not face]
                alpha = _first_that_copes(
                    Stage.CUTOUT, self.stages.segmenters, (rgb, face, others), notes, backends
                )
            with stage(Stage.FACE):
                styled = _first_that_copes(
                    Stage.FACE,
                    self.stages.stylers,
                    (rgb, alpha, face, cover, hit.row),
                    notes,
                    backends,
                )
            with stage(Stage.COMPOSING):
                art = self._composite(styled, alpha, cover, hit.record, options)
        with stage(Stage.COMPOSING):
            image = self._letter(art, hit.record, options)

        return CoverResult(
            image=image,
            record=hit.record,
            similarity=hit.similarity,
            face_found=face is not None,
            notes=notes,
            timings=timings,
            backends=backends,
        )

    # -- stages -------------------------------------------------------------------------------
    def _cover_pixels(self, record: CoverRecord, size: int) -> np.ndarray:
        with Image.open(self.index.cover_path(record)) as image:
            image.draft("RGB", (size, size))
            return compose.square_crop(np.asarray(image.convert("RGB")), size)

    def _composite(
        self,
        member: np.ndarray,
        alpha: np.ndarray,
        cover: np.ndarray,
        record: CoverRecord,
        options: CoverOptions,
    ) -> np.ndarray:
        size = options.size
        subject, matte = compose.fit_into_region(member, alpha, size, tuple(record.placement))
        background = compose.drop_shadow(cover, matte, offset=max(2, size // 90))
        out = compose.blend(background, subject, matte)
        rng = np.random.default_rng(options.seed)
        return compose.add_grain(out, float(record.style.get("grain", 0.02)) * 0.6, rng)

    def _faceless_art(
        self, rgb: np.ndarray, cover: np.ndarray, options: CoverOptions
    ) -> np.ndarray:
        art = compose.square_crop(rgb, options.size)
        art = compose.transfer_colour(art, compose.lab_statistics(cover), (0.35, 0.6, 0.6))
        art = compose.vignette(art, 0.35)
        return compose.add_grain(art, 0.025, np.random.default_rng(options.seed))

    def _letter(self, art: np.ndarray, record: CoverRecord, options: CoverOptions) -> Image.Image:
        image = Image.fromarray(art)
        artist = clean_text(options.artist, self.limits.artist_max_chars)
        title = clean_text(options.title, self.limits.title_max_chars)
        style = TypeStyle.from_record(record.style)
        image = draw_lettering(image, artist, title, style, options.seed)
        if options.advisory:
            corner = "bottom-left" if style.layout == "bottom" else "bottom-right"
            image = draw_advisory(
                image, corner if style.layout != "bottom-left" else "bottom-right"
            )
        return image


def _first_that_copes(
    stage: Stage,
    chain: Sequence[Any],
    args: tuple[Any, ...],
    notes: list[str],
    backends: dict[str, str],
) -> np.ndarray:
    """Run `stage`'s backends in order on this photo until one copes (returns not None);
    each fallback is said in the notes and the backends line."""
    for position, model in enumerate(chain):
        if position:
            notes.append(fallback_note(stage, chain[position - 1].name, model.name))
            backends[stage.value] = model.name
        result = model(*args)
        if result is not None:
            return result
    raise RuntimeError(f"no {stage} backend coped with this photo")  # the last always copes


GAVE_UP = {Stage.CUTOUT: "found no person", Stage.FACE: "couldn't use this face"}
"""What a member reads when a stage's backend gave up on their photo and the next took over."""


def fallback_note(stage: Stage, failed: str, used: str) -> str:
    if used == OvalMatte.name:
        return "couldn't separate the person: used a soft oval crop"
    return f"{failed} {GAVE_UP[stage]}: used {used}"
