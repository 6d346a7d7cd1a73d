"""Photo → album cover: the stages in order, each behind the interface its neural twin uses.

`Pipeline.load` builds every model once (a worker keeps it for its lifetime);
`make_cover` runs one photo and reports which library cover it matched, what it noticed and
how long each stage took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from albumify.settings import Limits, Settings, starter_index_dir
from imaging import compose
from imaging.photo import Photo, decode_photo
from imaging.typography import TypeStyle, clean_text, draw_advisory, draw_lettering
from index.library import CoverIndex, CoverRecord
from models.backends import Backends, select_backends
from models.embedder import ClassicEmbedder
from models.faces import Face, FaceDetector, main_face

Progress = Callable[[str], None]
STAGES = ("decoding", "faces", "matching", "cutout", "face", "composing")


@dataclass(frozen=True)
class CoverOptions:
    title: str | None = None
    artist: str | None = None
    advisory: bool = False
    seed: int = 0
    size: int = 1024
    exclude: tuple[str, ...] = ()
    """Library ids already shown for this photo: a re-roll asks for the next best."""
    backend: str = "auto"
    genre: str | None = None


@dataclass
class CoverResult:
    image: Image.Image
    record: CoverRecord
    similarity: float
    face_found: bool
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)


@dataclass
class Stages:
    """The models a pipeline runs; classic by default, neural twins swapped in by backend."""

    detector: Any
    embedder: Any
    segmenter: Any
    styler: Any
    fallback_segmenter: Any = None
    fallback_styler: Any = None

    def names(self) -> dict[str, str]:
        return {
            "faces": self.detector.name,
            "similarity": self.embedder.name,
            "cutout": self.segmenter.name,
            "face": self.styler.name,
        }


def load_index(index_dir: Path | None, embedders: list[Any]) -> CoverIndex:
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
        backend = backend or settings.backend
        backends = select_backends(settings.weights_dir, backend, device)
        # The starter library always carries the classic vectors, plus the neural ones in use.
        embedders = [backends.embedder]
        if backends.embedder.name != ClassicEmbedder.name:
            embedders.insert(0, ClassicEmbedder())
        index = load_index(index_dir or settings.index_dir, embedders)
        stages = build_stages(backends, index, device)
        compile_stages(stages, settings.compile_mode)
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
        def stage(name: str) -> Iterator[None]:
            if progress is not None:
                progress(name)
            start = time.perf_counter()
            yield
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start

        with stage("decoding"):
            if not isinstance(photo, Photo):
                photo = decode_photo(photo, max_pixels=self.limits.max_pixels)
            rgb = photo.array()
        notes = list(photo.notes)

        with stage("faces"):
            faces = self.stages.detector.detect(rgb)
            face = main_face(faces, (rgb.shape[1], rgb.shape[0]))
        if len(faces) > 1:
            notes.append(f"{len(faces)} faces found: used the most prominent one")

        with stage("matching"):
            query = self.stages.embedder([rgb])[0]
            hits = self.index.search(
                query, self.stages.embedder.name, k=1, exclude=options.exclude, genre=options.genre
            )
            if not hits:  # every cover shown already: start the round again
                hits = self.index.search(query, self.stages.embedder.name, k=1, genre=options.genre)
                notes.append("every library cover was shown for this photo: starting over")
            if not hits:
                raise ValueError("the cover library is empty")
            hit = hits[0]
            cover = self._cover_pixels(hit.record, options.size)

        backends = self.stages.names()
        if face is None:
            notes.append("no face found: the photo itself became the cover art")
            with stage("composing"):
                art = self._faceless_art(rgb, cover, options)
        else:
            with stage("cutout"):
                alpha = self.stages.segmenter(rgb, face)
                if alpha is None and self.stages.fallback_segmenter is not None:
                    notes.append(
                        f"{self.stages.segmenter.name} found no person: used "
                        f"{self.stages.fallback_segmenter.name}"
                    )
                    backends["cutout"] = self.stages.fallback_segmenter.name
                    alpha = self.stages.fallback_segmenter(rgb, face)
                if alpha is None:
                    notes.append("couldn't separate the person: used a soft oval crop")
                    backends["cutout"] = "oval"
                    alpha = oval_matte(rgb.shape[:2], face)
            with stage("face"):
                styled = self._style_face(rgb, alpha, face, cover, hit.row, notes, backends)
            with stage("composing"):
                art = self._composite(styled, alpha, cover, hit.record, options)
        with stage("composing"):
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

    def _style_face(
        self,
        rgb: np.ndarray,
        alpha: np.ndarray,
        face: Face,
        cover: np.ndarray,
        row: int,
        notes: list[str],
        backends: dict[str, str],
    ) -> np.ndarray:
        styled = self.stages.styler(rgb, alpha, face, cover, row)
        if styled is None and self.stages.fallback_styler is not None:
            notes.append(
                f"{self.stages.styler.name} couldn't use this face: used "
                f"{self.stages.fallback_styler.name}"
            )
            backends["face"] = self.stages.fallback_styler.name
            styled = self.stages.fallback_styler(rgb, alpha, face, cover, row)
        return styled

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


def oval_matte(shape: tuple[int, int], face: Face) -> np.ndarray:
    """Head-and-shoulders oval: the last resort when no segmenter finds the person."""
    import cv2

    height, width = shape
    mask = np.zeros((height, width), np.float32)
    cx, cy = face.centre
    axes = (int(face.width * 1.3), int(face.height * 1.9))
    cv2.ellipse(mask, (int(cx), int(cy + face.height * 0.6)), axes, 0, 0, 360, 1.0, -1)
    from models.segmenter import feather

    return feather(mask, radius=face.width * 0.15)


def compile_stages(stages: Stages, mode: str) -> None:
    """``ALBUMIFY_COMPILE``: compile the neural models that can be (pSp, ResNet50) at load.

    Off by default: on the CPU it does not pay (README, Performance); each model falls back
    to eager with a warning when compiling fails, so a bad toolchain costs speed, not jobs.
    """
    if mode == "off":
        return
    for model in (stages.embedder, stages.styler):
        compile_model = getattr(model, "compile", None)
        if compile_model is not None:
            compile_model(mode)


def build_stages(backends: Backends, index: CoverIndex, device: str | None = None) -> Stages:
    """Models for every stage; each neural stage keeps its classic twin as a per-photo fallback.

    With `auto`, an index that lacks the neural embedder's vectors is searched with the
    classic descriptor instead (said in the backends line); with `neural` it is an error
    that says how to add them.
    """
    from models.device import pick_device
    from models.face_style import ColourStyler, PSPStyler
    from models.segmenter import GrabCutSegmenter

    torch_device = pick_device(device)
    embedder = backends.embedder
    if not index.has_embedder(embedder.name):
        if backends.requested == "neural":
            index.vectors(embedder.name)  # raises: "add them with albumify index add …"
        embedder = ClassicEmbedder()
    segmenter, fallback_segmenter = backends.segmenter, None
    if not isinstance(segmenter, GrabCutSegmenter):
        fallback_segmenter = GrabCutSegmenter()
    styler, fallback_styler = ColourStyler(), None
    if backends.psp_path is not None:
        styler = PSPStyler.load(backends.psp_path, torch_device, cover_wplus=index.wplus())
        fallback_styler = ColourStyler()
    return Stages(
        FaceDetector(device=torch_device),
        embedder,
        segmenter,
        styler,
        fallback_segmenter,
        fallback_styler,
    )
