"""Which backend runs each stage: neural where its weights are present, classic otherwise.

The DESIGN rule: `auto` picks each neural stage only when its file is in the weights dir;
`classic` never touches neural weights; `neural` needs every neural file and says which are
missing. A missing file is an error only in that last case. pSp itself is loaded by the
pipeline (`models.psp.PSP.from_checkpoint(backends.psp_path, device)`); here we only find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from albumify.errors import MissingAsset, UsageError
from models.embedder import ClassicEmbedder, Embedder, ResNetEmbedder
from models.segmenter import GrabCutSegmenter, Segmenter, YoloSegmenter
from models.weights import PSP_FFHQ, missing_hint, resolve

if TYPE_CHECKING:
    import torch

BACKEND_CHOICES = ("auto", "classic", "neural")
CLASSIC_FACE = "lab-adain"  # models.face_style.ColourStyler.name
NEURAL_FACE = "psp"

NEURAL_FILES = {
    "similarity": ResNetEmbedder.weights_file,
    "cutout": YoloSegmenter.weights_file,
    "face": PSP_FFHQ,
}
"""Stage → the weights file that switches its neural backend on."""


@dataclass(frozen=True)
class Backends:
    """The loaded models for one worker, and the name of what was chosen per stage."""

    embedder: Embedder
    segmenter: Segmenter
    psp_path: Path | None
    """The pSp checkpoint when the neural face stage is on; None = colour-statistics transfer."""
    requested: str = "auto"

    @property
    def face(self) -> str:
        return NEURAL_FACE if self.psp_path is not None else CLASSIC_FACE

    @property
    def names(self) -> dict[str, str]:
        """Stage → backend name, for the CLI and the result's "made with" line."""
        return {
            "similarity": self.embedder.name,
            "cutout": self.segmenter.name,
            "face": self.face,
        }

    def describe(self) -> str:
        chosen = ", ".join(f"{stage}={name}" for stage, name in self.names.items())
        return f"backends ({self.requested}): {chosen}"


def available_embedders(
    weights_dir: Path | str, device: torch.device | str | None = None
) -> list[Embedder]:
    """Every embedder this machine can run, for `index build`: the classic descriptor always,
    ResNet50 when its weights are present (an index holds one vector file per embedder)."""
    embedders: list[Embedder] = [ClassicEmbedder()]
    if resolve(ResNetEmbedder.weights_file, weights_dir) is not None:
        embedders.append(ResNetEmbedder.load(weights_dir, device))
    return embedders


def select_backends(
    weights_dir: Path | str,
    requested: str = "auto",
    device: torch.device | str | None = None,
) -> Backends:
    if requested not in BACKEND_CHOICES:
        raise UsageError(
            f"--backend must be one of {', '.join(BACKEND_CHOICES)}, not {requested!r}"
        )
    if requested == "classic":
        return Backends(ClassicEmbedder(), GrabCutSegmenter(), None, requested)

    present = {stage: resolve(name, weights_dir) for stage, name in NEURAL_FILES.items()}
    if requested == "neural":
        missing = [NEURAL_FILES[stage] for stage, path in present.items() if path is None]
        if missing:
            raise MissingAsset(
                f"--backend neural needs {', '.join(missing)} in {weights_dir}: "
                + missing_hint(missing, weights_dir)
                + "; or use --backend auto to fall back per stage"
            )

    from models.device import pick_device

    device = pick_device(str(device) if device is not None else None)
    embedder: Embedder = (
        ResNetEmbedder.load(weights_dir, device) if present["similarity"] else ClassicEmbedder()
    )
    segmenter: Segmenter = (
        YoloSegmenter.load(weights_dir, device) if present["cutout"] else GrabCutSegmenter()
    )
    return Backends(embedder, segmenter, present["face"], requested)
