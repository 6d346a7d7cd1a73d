"""upfirdn2d: upsample (zero insertion), pad, FIR filter, downsample.

Two implementations with the published semantics (rosinality/stylegan2-pytorch):

* ``upfirdn2d_naive`` -- the reference: literally inserts zeros, pads, and runs the flipped
  kernel as a single-channel convolution over ``[N*C, 1, H, W]``. Slow (memory bound, no
  channel parallelism) but obviously right; the tests check it against a brute-force loop.
* ``upfirdn2d_fast`` -- the same linear map written as one depthwise ``conv2d`` (no
  upsampling) or one depthwise ``conv_transpose2d`` (upsampling: a stride-``up`` transposed
  conv *is* zero insertion followed by a full convolution), so no zero-filled tensor is ever
  materialised and oneDNN/cuDNN kernels do the work.

Pads are ``(pad0, pad1)`` for both axes or ``(x0, x1, y0, y1)``; negative pads crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def make_kernel(k: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """1-D taps -> normalised 2-D separable kernel (outer product, sums to 1)."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def _pads(pad: Sequence[int]) -> tuple[int, int, int, int]:
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return pad[0], pad[1], pad[2], pad[3]
    raise ValueError(f"pad must have 2 or 4 entries, got {pad!r}")


def upfirdn2d_naive(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Reference implementation: zero-insert, pad/crop, convolve with ``kernel``, subsample."""
    px0, px1, py0, py1 = _pads(pad)
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    out = x.reshape(n * c, 1, h, 1, w, 1)
    out = F.pad(out, [0, up - 1, 0, 0, 0, up - 1])  # zeros after every sample, both axes
    out = out.reshape(n * c, 1, h * up, w * up)
    out = F.pad(out, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    out = out[
        :,
        :,
        max(-py0, 0) : out.shape[2] - max(-py1, 0),
        max(-px0, 0) : out.shape[3] - max(-px1, 0),
    ]
    weight = torch.flip(kernel, [0, 1]).view(1, 1, kh, kw).to(out.dtype)
    out = F.conv2d(out, weight)  # flipped kernel + cross-correlation = true convolution
    out = out[:, :, ::down, ::down]
    return out.reshape(n, c, out.shape[2], out.shape[3])


def _axis_transpose_pad(size: int, k: int, up: int, p0: int, p1: int) -> tuple[int, int] | None:
    """(padding, output_padding) for conv_transpose2d reproducing one axis, or None."""
    padding = k - 1 - p0
    want = size * up + p0 + p1 - k + 1
    got = (size - 1) * up - 2 * padding + k
    extra = want - got
    if padding >= 0 and 0 <= extra < up:
        return padding, extra
    return None


def upfirdn2d_fast(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Same map as :func:`upfirdn2d_naive` via one depthwise (transposed) convolution."""
    px0, px1, py0, py1 = _pads(pad)
    c = x.shape[1]
    kh, kw = kernel.shape
    kernel = kernel.to(dtype=x.dtype, device=x.device)
    if up == 1:
        weight = torch.flip(kernel, [0, 1]).expand(c, 1, kh, kw)
        if px0 == px1 == py0 == py1 and px0 >= 0:
            return F.conv2d(x, weight, stride=down, padding=px0, groups=c)
        return F.conv2d(F.pad(x, [px0, px1, py0, py1]), weight, stride=down, groups=c)
    # conv_transpose2d(stride=up) scatters each input sample through the *unflipped* kernel,
    # which is exactly "zero-insert then convolve"; its padding crops the front.
    weight = kernel.expand(c, 1, kh, kw)
    ax = _axis_transpose_pad(x.shape[3], kw, up, px0, px1)
    ay = _axis_transpose_pad(x.shape[2], kh, up, py0, py1)
    if ax is not None and ay is not None:
        out = F.conv_transpose2d(
            x, weight, stride=up, padding=(ay[0], ax[0]), output_padding=(ay[1], ax[1]), groups=c
        )
    else:  # unusual pads: full transposed conv, then pad/crop each side explicitly
        out = F.conv_transpose2d(x, weight, stride=up, groups=c)
        want_h = x.shape[2] * up + py0 + py1 - kh + 1
        want_w = x.shape[3] * up + px0 + px1 - kw + 1
        fy, fx = py0 - (kh - 1), px0 - (kw - 1)  # >0: zeros in front, <0: crop front
        out = F.pad(
            out,
            [fx, want_w - (out.shape[3] + fx), fy, want_h - (out.shape[2] + fy)],
        )
    if down > 1:
        out = out[:, :, ::down, ::down]
    return out


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: Sequence[int] = (0, 0),
    *,
    fast: bool = True,
) -> torch.Tensor:
    """Dispatch to the fast path (default) or the naive reference."""
    fn = upfirdn2d_fast if fast else upfirdn2d_naive
    return fn(x, kernel, up=up, down=down, pad=pad)
