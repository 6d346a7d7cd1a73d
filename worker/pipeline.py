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

from albumify.errors import AlbumifyError
from albumify.settings import Limits, Settings, starter_index_dir
from imaging import compose
from imaging.layers import CoverLayers, render
from imaging.layouts import (
    Palette,
    PhotoFacts,
    choose_family,
    face_share,
    seed_for_family,
)
from imaging.photo import Photo, decode_photo
from imaging.titles import generate_title
from imaging.typography import clean_text
from index.library import CoverIndex, CoverRecord
from models.backends import Stages, build_stages, select_backends
from models.embedder import Embedder
from models.faces import Face, by_prominence
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
    """None: a title is generated to fit the matched cover (when lettering is on)."""
    artist: str | None = None
    """Callers fill in the member's display name (or the file's name) when none was typed."""
    advisory: bool = False
    lettering: bool = True
    """False: no artist and no title on the cover at all."""
    seed: int = 0
    size: int = 1024
    exclude: tuple[str, ...] = ()
    """Library ids already shown for this photo: a re-roll asks for the next best."""
    face: int = 1
    """Which face to build on, counted most prominent first (`Pipeline.faces`); 1: the main."""
    keep_cover: str | None = None
    """Match this library cover again (another face on the same cover), if it is still in
    the library; None: search as usual."""


class NoSuchFace(AlbumifyError):
    """The member asked for a face the photo does not have (fewer faces were found)."""


@dataclass
class CoverResult:
    image: Image.Image
    record: CoverRecord
    similarity: float
    face_found: bool
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)
    layout: str = ""
    """The layout family the cover was composed in (imaging.layouts.FAMILIES)."""
    lettering: tuple[str, str] | None = None
    """(artist, title) as set on the cover; None when lettering was off."""
    faces: int = 0
    """How many faces the photo has (≥ 2: the member may pick another one)."""
    layers: CoverLayers | None = None
    """What an edit re-composites from (worker.edit keeps it in Redis)."""


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
            faces = self.faces(rgb)
            face = pick_face(faces, options.face)
        if len(faces) > 1:
            used = "the most prominent one" if options.face == 1 else f"face {options.face}"
            notes.append(f"{len(faces)} faces found: used {used}")

        with stage(Stage.MATCHING):
            query = self.stages.embedder([rgb])[0]
            name = self.stages.embedder.name
            exclude = self._exclusions(options)
            hit = self.index.match(query, name, exclude=exclude, seed=options.seed)
            if hit is None:  # every cover shown already: start the round again
                hit = self.index.match(query, name, seed=options.seed)
                notes.append("every library cover was shown for this photo: starting over")
            if hit is None:
                raise ValueError("the cover library is empty")
            cover = self._cover_pixels(hit.record, options.size)

        backends = self.stages.names()
        photo, alpha = rgb, None
        if face is None:
            notes.append("no face found: the photo itself became the cover art")
        else:
            with stage(Stage.CUTOUT):
                others = [f for f in faces if f is not face]
                alpha = _first_that_copes(
                    Stage.CUTOUT, self.stages.segmenters, (rgb, face, others), notes, backends
                )
            with stage(Stage.FACE):
                photo = _first_that_copes(
                    Stage.FACE,
                    self.stages.stylers,
                    (rgb, alpha, face, cover, hit.row),
                    notes,
                    backends,
                )
        with stage(Stage.COMPOSING):
            facts = PhotoFacts(
                person=alpha is not None,
                whole_photo_ok=len(faces) <= 1,
                face_share=face_share(face.box if face else None, rgb.shape[0]),
            )
            family = choose_family(
                hit.record.style,
                hit.record.genre,
                facts,
                seed_for_family(options.seed, len(options.exclude)),
            )
            layers = CoverLayers(
                art=cover,
                photo=photo,
                alpha=alpha,
                face_box=face.box if face else None,
                style=hit.record.style,
                placement=tuple(hit.record.placement),
                facts=facts,
                palette=Palette.of(cover),
                family=family,
                seed=options.seed,
            )
            lettering = self.lettering(hit.record, options)
            image = render(layers, lettering, options.advisory)

        return CoverResult(
            image=image,
            record=hit.record,
            similarity=hit.similarity,
            face_found=face is not None,
            notes=notes,
            timings=timings,
            backends=backends,
            layout=family,
            lettering=lettering,
            faces=len(faces),
            layers=layers,
        )

    def _exclusions(self, options: CoverOptions) -> tuple[str, ...]:
        """The covers not to match: `options.exclude`, or every other cover when one is to be
        kept (the search then has a single candidate, whatever the photo's embedding)."""
        keep = options.keep_cover
        if keep and any(record.library_id == keep for record in self.index.records):
            return tuple(r.library_id for r in self.index.records if r.library_id != keep)
        return options.exclude

    def faces(self, rgb: np.ndarray) -> list[Face]:
        """The photo's faces, most prominent first: the numbering the preview shows and
        `CoverOptions.face` counts in (one order for the detect job and the cover job)."""
        return by_prominence(self.stages.detector.detect(rgb), (rgb.shape[1], rgb.shape[0]))

    # -- stages -------------------------------------------------------------------------------
    def _cover_pixels(self, record: CoverRecord, size: int) -> np.ndarray:
        with Image.open(self.index.cover_path(record)) as image:
            image.draft("RGB", (size, size))
            return compose.square_crop(np.asarray(image.convert("RGB")), size)

    def lettering(self, record: CoverRecord, options: CoverOptions) -> tuple[str, str] | None:
        """(artist, title) for the cover: the member's, else a title that fits the cover."""
        return cover_lettering(record.genre, record.library_id, options, self.limits)


def cover_lettering(
    genre: str | None, library_id: str, options: CoverOptions, limits: Limits
) -> tuple[str, str] | None:
    """(artist, title) as set on a cover, or None with lettering off; an empty title is
    generated (seeded) to fit the library cover, so an edit that clears it gets the same."""
    if not options.lettering:
        return None
    artist = clean_text(options.artist, limits.artist_max_chars)
    title = clean_text(options.title, limits.title_max_chars)
    if not title:
        title = generate_title(genre, options.seed, artist, library_id)
    return artist, title


def pick_face(faces: Sequence[Face], number: int) -> Face | None:
    """Face `number` (1-based, most prominent first); None when the photo has no face and the
    main face was asked for. Asking for a face beyond those found is the member's mistake."""
    if not faces and number == 1:
        return None
    if not 1 <= number <= len(faces):
        found = {0: "no face", 1: "one face"}.get(len(faces), f"{len(faces)} faces")
        raise NoSuchFace(
            f"I found {found} in this photo, so there is no face {number}. "
            "Press “Use another face” on the cover to see them numbered."
        )
    return faces[number - 1]


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
