"""Face style: make the member look like they belong on the matched cover.

`ColourStyler` is the embedded default (Lab colour statistics, no weights). The neural twin,
pSp style mixing, has the same call: `styler(member, alpha, face, cover, cover_index_row)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from imaging.compose import alpha_bbox, lab_statistics, transfer_colour
from models.faces import Face

if TYPE_CHECKING:
    import torch


class FaceStyler(Protocol):
    name: str

    def __call__(
        self,
        member: np.ndarray,
        alpha: np.ndarray,
        face: Face,
        cover: np.ndarray,
        cover_row: int | None,
    ) -> np.ndarray: ...


class ColourStyler:
    """AdaIN in Lab from the cover's palette onto the member's cutout."""

    name = "lab-adain"

    def __init__(self, strength: tuple[float, float, float] = (0.35, 0.65, 0.65)):
        self.strength = strength

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> ColourStyler:
        return cls()

    def __call__(
        self,
        member: np.ndarray,
        alpha: np.ndarray,
        face: Face,
        cover: np.ndarray,
        cover_row: int | None = None,
    ) -> np.ndarray:
        box = alpha_bbox(alpha, threshold=0.01)
        if box is None:
            return member
        # Only the cutout is shown: restyle its bounding box, not the whole photo.
        x0, y0, x1, y1 = box
        out = member.copy()
        out[y0:y1, x0:x1] = transfer_colour(
            member[y0:y1, x0:x1], lab_statistics(cover), self.strength, mask=alpha[y0:y1, x0:x1]
        )
        return out


FINE_LAYERS = range(8, 18)
"""W+ layers 8–17 carry colour and texture; 0–7 carry pose and identity (kept the member's)."""


class PSPStyler:
    """pSp style mixing: the member's coarse styles, the cover face's fine styles.

    The member's face is FFHQ-aligned from its 5 landmarks, encoded to W+, mixed with the
    cover's W+ (stored in the index at build time, so a request encodes one face only; a
    cover without a face mixes with the average face, `latent_avg`), generated at 256 px
    (the generator stops early: most of the speed) and warped back with a soft mask.
    """

    name = "psp"

    def __init__(
        self,
        psp: Any,
        cover_wplus: np.ndarray | None = None,
        strength: float = 1.0,
        layers: Sequence[int] = FINE_LAYERS,
        size: int = 256,
    ):
        self.psp = psp
        self.cover_wplus = cover_wplus
        self.strength = strength
        self.layers = tuple(layers)
        self.size = size

    @classmethod
    def load(
        cls,
        checkpoint: Path,
        device: Any = "cpu",
        cover_wplus: np.ndarray | None = None,
        **options: Any,
    ) -> PSPStyler:
        from models.psp import PSP

        return cls(PSP.from_checkpoint(checkpoint, device=device), cover_wplus, **options)

    def warm_up(self) -> None:
        """One encode and one generate: the face stage's kernels are ready for the first job."""
        import torch  # pSp alone needs torch: the colour styler and a classic worker do not

        x = torch.zeros(1, 3, 256, 256)
        self.psp.generate(self.psp.encode(x), size=self.size)

    def compile(self, mode: str) -> None:
        """Compile the encoder and generator for the shapes a job uses (batch 1, 256 px in,
        ``self.size`` out); each part falls back to eager on its own if compiling fails."""
        import torch

        from models.compile import compile_module

        psp = self.psp
        # CUDA graphs reuse their output buffers on the next replay: hand out copies.
        psp.clone_outputs = mode == "cudagraphs"
        x = torch.zeros(1, 3, 256, 256, device=psp.device)
        # Warm up with what a job passes (W+ from encode: an inference tensor), or the first
        # job would recompile on the changed guard.
        compile_module(psp.encoder, mode, psp.device, lambda: psp.encode(x), "pSp encoder")
        compile_module(psp.decoder, mode, psp.device, self.warm_up, "pSp generator")

    def cover_latent(self, row: int | None) -> torch.Tensor:
        """The cover's W+ [1, 18, 512], or the average face when the cover has none."""
        import torch

        if self.cover_wplus is not None and row is not None:
            stored = np.asarray(self.cover_wplus[row], dtype=np.float32)
            if np.isfinite(stored).all():
                return torch.from_numpy(stored)[None].to(self.psp.device)
        return self.psp.latent_avg[None]

    def __call__(
        self,
        member: np.ndarray,
        alpha: np.ndarray,
        face: Face,
        cover: np.ndarray,
        cover_row: int | None = None,
    ) -> np.ndarray | None:
        import torch

        from models.align import align_face, paste_face
        from models.psp import mix_styles

        try:
            aligned = align_face(member, face.landmarks, size=256)
        except ValueError:
            return None  # degenerate landmarks: the pipeline falls back to colour transfer
        x = torch.from_numpy(aligned.image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        w_member = self.psp.encode(x)
        w = mix_styles(w_member, self.cover_latent(cover_row), self.strength, self.layers)
        generated = self.psp.generate(w, size=self.size)[0]
        face_image = ((generated.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        face_image = face_image.permute(1, 2, 0).cpu().numpy()
        return paste_face(member, face_image, aligned.matrix, feather=0.15, aligned_size=256)
