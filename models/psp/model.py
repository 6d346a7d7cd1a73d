"""pSp (pixel2style2pixel) FFHQ encoder + StyleGAN2 decoder, inference only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from models.psp.checkpoint import CheckpointError, check_state_dict, read_checkpoint
from models.psp.encoder import GradualStyleEncoder
from models.psp.generator import Generator

GENERATE_SIZES = (256, 512, 1024)
N_STYLES = 18
STYLE_DIM = 512


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA if present else CPU; asking for CUDA without it is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return dev


def mix_styles(
    w_member: torch.Tensor,
    w_cover: torch.Tensor,
    alpha: float = 1.0,
    layers: Iterable[int] = range(8, N_STYLES),
) -> torch.Tensor:
    """Style mixing in W+: ``w[:, i] = a*w_cover[:, i] + (1-a)*w_member[:, i]`` for i in layers.

    Coarse layers (pose, identity) stay the member's; the listed (by default fine: colour,
    texture) layers come from the cover. Inputs are [B, 18, 512] (or broadcastable, e.g. one
    cover for a batch of members); returns a new tensor.
    """
    w_member, w_cover = torch.broadcast_tensors(w_member, w_cover)
    if w_member.ndim < 2:
        raise ValueError(f"W+ latents need shape [..., n_styles, dim], got {tuple(w_member.shape)}")
    n = w_member.shape[-2]
    idx = sorted(set(layers))
    if any(i < 0 or i >= n for i in idx):
        raise ValueError(f"layers must lie in [0, {n}), got {idx}")
    out = w_member.clone()
    if idx:
        out[..., idx, :] = alpha * w_cover[..., idx, :] + (1.0 - alpha) * w_member[..., idx, :]
    return out


class PSP(nn.Module):
    """Encode 256 px faces to W+ and synthesise faces from W+.

    ``state_dict()`` holds exactly the official ``encoder.*`` and ``decoder.*`` keys;
    ``latent_avg`` is a non-persistent buffer because the file stores it beside the
    state dict. Options: ``fast_ops`` (default) or the naive published op semantics;
    ``amp_dtype`` (CUDA only: torch.float16/bfloat16 autocast; CPU always runs fp32);
    ``channels_last`` (None = auto: on CPU for the generator only, where oneDNN is much faster
    with it; on CUDA for both parts when autocast is on; True/False forces both parts).
    """

    def __init__(
        self,
        *,
        fast_ops: bool = True,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        self.encoder = GradualStyleEncoder(input_nc=3, n_styles=N_STYLES)
        self.decoder = Generator(1024, STYLE_DIM, n_mlp=8, channel_multiplier=2, fast_ops=fast_ops)
        self.register_buffer("latent_avg", torch.zeros(N_STYLES, STYLE_DIM), persistent=False)
        self.start_from_latent_avg = True
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.clone_outputs = False
        """Set when the parts run as CUDA graphs, whose output buffers the next call reuses."""

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        *,
        fast_ops: bool = True,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool | None = None,
    ) -> PSP:
        """Load the official ``psp_ffhq_encode.pt`` unchanged, strictly.

        Raises :class:`CheckpointError` (a ValueError) naming missing, extra or mis-shaped
        keys, or opts that describe another model; see :mod:`models.psp.checkpoint`.
        """
        dev = resolve_device(device)
        ckpt = read_checkpoint(path, map_location="cpu")
        with torch.device("meta"):  # no 300M-parameter random init just to overwrite it
            model = cls(fast_ops=fast_ops, amp_dtype=amp_dtype, channels_last=channels_last)
        check_state_dict(model.state_dict(), ckpt.state_dict)
        try:
            model.load_state_dict(ckpt.state_dict, strict=True, assign=True)
        except RuntimeError as exc:  # belt and braces: check_state_dict should catch it all
            raise CheckpointError(f"{path}: {exc}") from exc
        latent_avg = ckpt.latent_avg if ckpt.latent_avg is not None else torch.zeros(STYLE_DIM)
        model.latent_avg = latent_avg.expand(N_STYLES, STYLE_DIM).clone()
        model.start_from_latent_avg = ckpt.start_from_latent_avg
        model.eval().requires_grad_(False)
        return model.to(dev)

    @property
    def device(self) -> torch.device:
        return self.latent_avg.device

    def set_fast_ops(self, fast: bool) -> None:
        self.decoder.set_fast_ops(fast)

    def _memory_format(self, part: str) -> torch.memory_format:
        # Measured on the 2-core CPU: channels_last makes the generator up to ~3x faster at
        # the high-resolution layers (oneDNN depthwise/transposed convs); the encoder gains
        # nothing measurable (within +-5%, bench/bench_psp.py), so it stays NCHW there.
        use = self.channels_last
        if use is None:
            cpu_default = part == "decoder"
            use = cpu_default if self.device.type == "cpu" else self.amp_dtype is not None
        return torch.channels_last if use else torch.contiguous_format

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is not None and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, 256, 256] in [-1, 1] -> W+ [B, 18, 512] (``latent_avg`` added, as pSp does)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, 256, 256):
            raise ValueError(f"expected [B, 3, 256, 256] input, got {tuple(x.shape)}")
        with torch.inference_mode(), self._autocast():
            x = x.to(self.device, torch.float32)
            x = x.contiguous(memory_format=self._memory_format("encoder"))
            codes = self._owned(self.encoder(x).float())
            if self.start_from_latent_avg:
                codes = codes + self.latent_avg
        return codes

    def generate(self, w: torch.Tensor, size: int = 1024) -> torch.Tensor:
        """W+ [B, 18, 512] -> images [B, 3, size, size], roughly in [-1, 1].

        ``size`` 256/512 stops the generator at that level's to_rgb (no resize); noise is the
        checkpoint's fixed ``decoder.noises.noise_*`` buffers, so output is deterministic.
        """
        if size not in GENERATE_SIZES:
            raise ValueError(f"size must be one of {GENERATE_SIZES}, got {size}")
        if w.ndim != 3 or tuple(w.shape[1:]) != (N_STYLES, STYLE_DIM):
            raise ValueError(f"expected W+ [B, {N_STYLES}, {STYLE_DIM}], got {tuple(w.shape)}")
        with torch.inference_mode(), self._autocast():
            w = w.to(self.device, torch.float32)
            img = self.decoder(w, size=size, memory_format=self._memory_format("decoder"))
        return self._owned(img.float())

    def _owned(self, out: torch.Tensor) -> torch.Tensor:
        return out.clone() if self.clone_outputs else out
