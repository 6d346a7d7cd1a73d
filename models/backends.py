"""The backend registry: what runs each stage, what takes over per photo, the index embedders.

Each stage lists its backends most capable first; a neural one is in play only where its
weights file is in the weights dir:

    faces       blazeface                    (MediaPipe's model, in the mediapipe wheel)
    similarity  resnet50-v2 → classic-v2     (search uses the first whose vectors the index has)
    cutout      yolo11n-seg → selfie → grabcut → oval
                                             (per photo: the next when one finds no person)
    face        psp → lab-adain              (per photo: colour transfer when pSp can't align)

`ALTERNATIVES` holds backends no chain uses any more (MTCNN, the detector before BlazeFace),
for benchmarks that measure today's pipeline against the one before.

The request decides which are in play (the DESIGN rule): `auto` keeps each neural backend
whose file is present; `classic` never touches neural weights; `neural` needs every neural
file and says which are missing. The similarity entries are also the index's embedders
(`index build`, `index add --embedder`), with `EMBEDDER_FACTORIES` for more.

Nothing here knows about jobs, Discord or the index: callers pass what an index holds as
plain arguments. Models are imported only when loaded, so choosing stays light (no torch).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from albumify.errors import MissingAsset, UsageError
from models.weights import PSP_FFHQ, RESNET50, YOLO_SEG, missing_hint, resolve

if TYPE_CHECKING:
    import numpy as np
    import torch

    from models.embedder import Embedder
    from models.face_style import FaceStyler
    from models.faces import Detector
    from models.segmenter import Segmenter

BACKEND_CHOICES = ("auto", "classic", "neural")


def _no_cover_wplus() -> np.ndarray | None:
    return None


@dataclass(frozen=True)
class LoadContext:
    """What a backend's loader may use."""

    weights_dir: Path | None
    requested_device: torch.device | str | None = None
    cover_wplus: Callable[[], np.ndarray | None] = _no_cover_wplus
    """The library covers' W+ [N, 18, 512] for the face stage; read only if a loader asks."""

    @functools.cached_property
    def device(self) -> torch.device:
        """The torch device, resolved only when a loader asks: the embedded default's
        models run on LiteRT and OpenCV, so a classic worker never imports torch."""
        from models.device import pick_device

        requested = self.requested_device
        return pick_device(str(requested) if requested is not None else None)


@dataclass(frozen=True)
class Backend:
    """One way to run a stage."""

    name: str
    """The loaded model's `name`: what the backends line and the notes call it."""
    load: Callable[[LoadContext], Any]
    weights_file: str | None = None
    """The file that switches this neural backend on; None: always available."""


# Loaders import their model's module only when called: torch and OpenCV load with the model.
def _blazeface(context: LoadContext) -> Detector:
    from models.blazeface import BlazeFaceDetector

    return BlazeFaceDetector.load()


def _mtcnn(context: LoadContext) -> Detector:
    from models.faces import FaceDetector

    return FaceDetector.load(context.weights_dir, context.device)


def _resnet(context: LoadContext) -> Embedder:
    from models.embedder import ResNetEmbedder

    return ResNetEmbedder.load(_weights_dir(context), context.device)


def _classic_embedder(context: LoadContext) -> Embedder:
    from models.embedder import ClassicEmbedder

    return ClassicEmbedder()


def _yolo(context: LoadContext) -> Segmenter:
    from models.segmenter import YoloSegmenter

    return YoloSegmenter.load(_weights_dir(context), context.device)


def _selfie(context: LoadContext) -> Segmenter:
    from models.matte import SelfieMatte

    return SelfieMatte.load()


def _grabcut(context: LoadContext) -> Segmenter:
    from models.segmenter import GrabCutSegmenter

    return GrabCutSegmenter()


def _oval(context: LoadContext) -> Segmenter:
    from models.segmenter import OvalMatte

    return OvalMatte()


def _psp(context: LoadContext) -> FaceStyler:
    from models.face_style import PSPStyler

    checkpoint = _weights_dir(context) / PSP_FFHQ
    return PSPStyler.load(checkpoint, context.device, cover_wplus=context.cover_wplus())


def _colour_styler(context: LoadContext) -> FaceStyler:
    from models.face_style import ColourStyler

    return ColourStyler()


def _weights_dir(context: LoadContext) -> Path:
    if context.weights_dir is None:  # a neural backend is in play only where its file is
        raise ValueError("a neural backend needs a weights directory")
    return Path(context.weights_dir)


REGISTRY: dict[str, tuple[Backend, ...]] = {
    "faces": (Backend("blazeface", _blazeface),),
    "similarity": (
        Backend("resnet50-v2", _resnet, RESNET50),
        Backend("classic-v2", _classic_embedder),
    ),
    "cutout": (
        Backend("yolo11n-seg", _yolo, YOLO_SEG),
        Backend("selfie", _selfie),
        Backend("grabcut", _grabcut),
        Backend("oval", _oval),
    ),
    "face": (
        Backend("psp", _psp, PSP_FFHQ),
        Backend("lab-adain", _colour_styler),
    ),
}
"""Stage → its backends, most capable first; the last of each never needs weights."""

ALTERNATIVES: dict[str, tuple[Backend, ...]] = {"faces": (Backend("mtcnn", _mtcnn),)}
"""Stage → backends that no chain uses (kept runnable to measure against)."""

NEURAL_FILES = {
    stage: backend.weights_file
    for stage, chain in REGISTRY.items()
    for backend in chain
    if backend.weights_file is not None
}
"""Stage → the weights file that switches its neural backend on."""


def _in_play(backend: Backend, requested: str, weights_dir: Path | str | None) -> bool:
    if backend.weights_file is None:
        return True
    if requested == "classic" or weights_dir is None:
        return False
    return resolve(backend.weights_file, weights_dir) is not None


# --- the pipeline's stages ------------------------------------------------------------------


@dataclass(frozen=True)
class Backends:
    """Which backends run each stage, in the order a photo tries them; nothing loaded yet."""

    requested: str
    weights_dir: Path
    chains: Mapping[str, tuple[Backend, ...]]
    device: torch.device | str | None = None

    def chain_names(self) -> dict[str, tuple[str, ...]]:
        return {stage: tuple(b.name for b in chain) for stage, chain in self.chains.items()}

    def files(self) -> dict[str, Path]:
        """Backend name → the weights file it loads, for each neural backend in play."""
        return {
            backend.name: self.weights_dir / backend.weights_file
            for chain in self.chains.values()
            for backend in chain
            if backend.weights_file is not None
        }

    def load(
        self, stage: str, cover_wplus: Callable[[], np.ndarray | None] = _no_cover_wplus
    ) -> tuple[Any, ...]:
        """Every model of `stage`'s chain, loaded in order."""
        context = LoadContext(self.weights_dir, self.device, cover_wplus)
        return tuple(backend.load(context) for backend in self.chains[stage])

    def load_embedders(self) -> list[Embedder]:
        """The similarity stage's embedders: a library for this worker holds vectors of each."""
        return list(self.load("similarity"))


def select_backends(
    weights_dir: Path | str,
    requested: str = "auto",
    device: torch.device | str | None = None,
) -> Backends:
    """Decide every stage's chain for `requested`; loads nothing (see `build_stages`).

    `neural` fails here, before anything is loaded, naming every missing file.
    """
    if requested not in BACKEND_CHOICES:
        raise UsageError(
            f"--backend must be one of {', '.join(BACKEND_CHOICES)}, not {requested!r}"
        )
    if requested == "neural":
        missing = [name for name in NEURAL_FILES.values() if resolve(name, weights_dir) is None]
        if missing:
            raise MissingAsset(
                f"--backend neural needs {', '.join(missing)} in {weights_dir}: "
                + missing_hint(missing, weights_dir)
                + "; or use --backend auto to fall back per stage"
            )
    chains = {
        stage: tuple(b for b in chain if _in_play(b, requested, weights_dir))
        for stage, chain in REGISTRY.items()
    }
    return Backends(requested, Path(weights_dir), chains, device)


@dataclass
class Stages:
    """The loaded models a pipeline runs; a photo tries `segmenters` and `stylers` in order."""

    detector: Detector
    embedder: Embedder
    segmenters: tuple[Segmenter, ...]
    stylers: tuple[FaceStyler, ...]

    @property
    def segmenter(self) -> Segmenter:
        return self.segmenters[0]

    @property
    def styler(self) -> FaceStyler:
        return self.stylers[0]

    def names(self) -> dict[str, str]:
        """Stage → the backend a photo tries first: the worker's start-up line, and the
        result's backends line before any per-photo fallback."""
        return {
            "faces": self.detector.name,
            "similarity": self.embedder.name,
            "cutout": self.segmenter.name,
            "face": self.styler.name,
        }

    def chain_names(self) -> dict[str, tuple[str, ...]]:
        return {
            "faces": (self.detector.name,),
            "similarity": (self.embedder.name,),
            "cutout": tuple(s.name for s in self.segmenters),
            "face": tuple(s.name for s in self.stylers),
        }

    def compile(self, mode: str) -> None:
        """``ALBUMIFY_COMPILE``: compile the neural models that can be (pSp, ResNet50) at load.

        Off by default: on the CPU it does not pay (README, Performance); each model falls
        back to eager with a warning when compiling fails, so a bad toolchain costs speed,
        not jobs.
        """
        if mode == "off":
            return
        for model in (self.embedder, self.styler):
            compile_model = getattr(model, "compile", None)
            if compile_model is not None:
                compile_model(mode)


def searchable_embedder(
    requested: str, embedders: Sequence[Embedder], index_embedders: Collection[str]
) -> Embedder:
    """The embedder to search with: the first whose vectors the index holds.

    With `auto`, a library without the neural vectors is searched with the classic
    descriptor (the backends line says so); with `neural`, the neural one regardless, and
    the index's error says how to add its vectors.
    """
    if requested == "neural":
        return embedders[0]
    return next((e for e in embedders if e.name in index_embedders), embedders[-1])


def build_stages(
    backends: Backends,
    embedders: Sequence[Embedder],
    index_embedders: Collection[str],
    cover_wplus: Callable[[], np.ndarray | None] = _no_cover_wplus,
) -> Stages:
    """Load every stage for a pipeline.

    `embedders` are `backends.load_embedders()` (loaded once: the library is prepared with
    them first), `index_embedders` the names the library holds vectors for, and
    `cover_wplus` reads its covers' W+ (called only if pSp is in play).
    """
    (detector,) = backends.load("faces")
    return Stages(
        detector=detector,
        embedder=searchable_embedder(backends.requested, embedders, index_embedders),
        segmenters=backends.load("cutout"),
        stylers=backends.load("face", cover_wplus),
    )


# --- the index's embedders ------------------------------------------------------------------

EmbedderFactory = Callable[[Path | None, str], "Embedder | None"]
EMBEDDER_FACTORIES: list[EmbedderFactory] = []
"""Extra embedder factories `(weights_dir, device) -> Embedder | None` (None = unavailable),
consulted after the registry's own: the hook tests and future embedders register through."""


def available_embedders(
    weights_dir: str | Path | None = None, device: str = "cpu"
) -> list[Embedder]:
    """Every embedder usable here: the classic descriptor first (an index always has its
    vectors), then each neural one whose weights are in `weights_dir` (one vector file each)."""
    weights = Path(weights_dir) if weights_dir else None
    in_play = [b for b in REGISTRY["similarity"] if _in_play(b, "auto", weights)]
    in_play.sort(key=lambda backend: backend.weights_file is not None)  # stable: classic first
    context = LoadContext(weights, device)
    found: list[Embedder] = [backend.load(context) for backend in in_play]
    for factory in EMBEDDER_FACTORIES:
        embedder = factory(weights, device)
        if embedder is not None and embedder.name not in {e.name for e in found}:
            found.append(embedder)
    return found


def select_embedders(
    backend: str, weights_dir: str | Path | None = None, device: str = "cpu"
) -> list[Embedder]:
    """`index build --backend`: `auto` all available; `classic` the classic one; `neural` all,
    failing without a neural one."""
    if backend not in BACKEND_CHOICES:
        raise UsageError(f"Unknown backend {backend!r}: use auto, classic or neural.")
    if backend == "classic":
        context = LoadContext(None, device)
        return [b.load(context) for b in REGISTRY["similarity"] if b.weights_file is None]
    found = available_embedders(weights_dir, device)
    if backend == "neural" and len(found) == 1:
        raise MissingAsset(
            f"--backend neural needs the ResNet50 weights ({NEURAL_FILES['similarity']}) in "
            f"{weights_dir}. Fetch them with: albumify models fetch"
        )
    return found


def find_embedder(name: str, weights_dir: str | Path | None, device: str = "cpu") -> Embedder:
    """`index add --embedder NAME`: that embedder, or an error listing the available ones."""
    found = available_embedders(weights_dir, device)
    for embedder in found:
        if embedder.name == name:
            return embedder
    raise MissingAsset(
        f"Embedder '{name}' is not available (available: {', '.join(e.name for e in found)}). "
        f"Neural embedders need their weights in {weights_dir}: albumify models fetch"
    )
