"""StyleGAN2 generator (rosinality layout, as shipped inside pSp's ``decoder.`` keys).

Module and parameter names mirror the published code so the official state dict loads
strictly. Every op has two paths chosen by ``fast_ops``:

* naive (``fast_ops=False``): the published semantics -- modulated weights as a grouped
  conv over the batch, transposed conv followed by a generic ``upfirdn2d`` blur, generic
  ``upfirdn2d`` upsampling of the RGB skip. This is the numerical reference.
* fast (default): batch 1 modulates the weight and runs a plain conv; batch > 1 modulates
  the *input* and demodulates the *output* (same linear map, one shared weight, no grouped
  conv). The upsampling blur is a fixed depthwise conv that also adds the bias, the RGB skip
  upsample a fixed depthwise transposed conv; noise and leaky ReLU run in place, and the
  activation's sqrt(2) gain is folded into the next layers' (small) weights instead of a
  pass over the (large) activations. Best with channels_last on CPU (oneDNN).

Why not fold the 4x4 blur into the 3x3 transposed-conv weight (one 6x6 transposed conv)?
It is one op but 4x the multiply-adds: measured on the 2-core CPU it is ~2.7x slower at the
512-channel layers and no faster at the 1024 px layer than transposed conv + depthwise blur
(``python -m bench.bench_psp`` prints both), so the split form is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.psp.op import (
    SQRT2,
    FusedLeakyReLU,
    fused_leaky_relu,
    make_kernel,
    upfirdn2d,
)

BLUR_KERNEL = (1, 3, 3, 1)


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """Feature channels per resolution of the official 1024 px FFHQ generator."""
    cm = channel_multiplier
    return {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * cm,
        128: 128 * cm,
        256: 64 * cm,
        512: 32 * cm,
        1024: 16 * cm,
    }


class PixelNorm(nn.Module):
    """Normalise each latent to unit RMS (first layer of the mapping network)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights stored unscaled, scaled at use."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation == "fused_lrelu":
            out = F.linear(x, self.weight * self.scale)
            return fused_leaky_relu(out, bias) if bias is not None else out
        return F.linear(x, self.weight * self.scale, bias)


class Blur(nn.Module):
    """FIR low-pass after a transposed conv (buffer ``kernel`` is in the checkpoint)."""

    def __init__(self, kernel: Sequence[int], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * (upsample_factor**2)  # keep DC gain after zero insertion
        self.register_buffer("kernel", k)
        self.pad = pad
        self.fast = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad, fast=self.fast)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip (buffer ``kernel`` is in the checkpoint)."""

    def __init__(self, kernel: Sequence[int], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * (factor**2))
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)
        self.fast = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad, fast=self.fast)


class ModulatedConv2d(nn.Module):
    """Style-modulated (and optionally demodulated) conv; ``upsample`` doubles the size."""

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: Sequence[int] = BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            pad0 = (p + 1) // 2 + factor - 1
            pad1 = p // 2 + 1
            self.blur = Blur(blur_kernel, pad=(pad0, pad1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(
            torch.randn(1, out_channel, in_channel, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.fast = True
        # Fast path only: the input arrives without the previous activation's sqrt(2) gain,
        # which is applied here to the (small) weight instead of the (large) activation.
        self.input_gain = 1.0

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Modulated conv; the fast path also adds ``bias`` (per output channel) in-kernel."""
        s = self.modulation(style)  # [B, in_channel]
        if self.fast:
            return self._forward_fast(x, s, bias)
        out = self._forward_naive(x, s)
        return out if bias is None else out + bias.view(1, -1, 1, 1)

    def _forward_naive(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Published code path: per-sample weights, grouped conv over the batch."""
        b, c, h, w = x.shape
        k, oc = self.kernel_size, self.out_channel
        weight = self.scale * self.weight * s.view(b, 1, c, 1, 1)
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(b, oc, 1, 1, 1)
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, oc, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            out = out.view(b, oc, out.shape[2], out.shape[3])
            return self.blur(out)
        weight = weight.view(b * oc, c, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.view(b, oc, out.shape[2], out.shape[3])

    def _fast_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight in the conv's layout, per-(out, in) sum of squared taps), cached.

        Inference reuses the same weights every call, so the transposed copy for
        conv_transpose2d and the demodulation statistics are computed once; the cache key
        (storage, version counter, dtype) changes whenever the parameter is replaced or
        modified in place.
        """
        w = self.weight
        if torch.compiler.is_compiling():  # a Python-side cache breaks the graph: recompute
            return self._weights_for_conv(w)  # (cheap next to the conv; inductor fuses it)
        key = (w.data_ptr(), w._version, w.dtype, w.device)
        cache = getattr(self, "_cache", None)
        if cache is None or cache[0] != key:
            with torch.no_grad():
                cache = (key, *self._weights_for_conv(w))
            self._cache = cache
        return cache[1], cache[2]

    def _weights_for_conv(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        base = w[0].detach()
        if self.upsample:  # conv_transpose2d wants [in, out, k, k]
            base = base.transpose(0, 1).contiguous()
        return base, w[0].detach().pow(2).sum([2, 3])  # [out, in]

    def _conv(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        """Plain conv, or (upsample; ``weight`` is [in, out, k, k]) transposed conv + blur."""
        if not self.upsample:
            return F.conv2d(x, weight, bias, padding=self.padding)
        out = F.conv_transpose2d(x, weight, stride=2)
        p0, p1 = self.blur.pad
        if p0 != p1 or p0 < 0:
            out = self.blur(out)
            return out if bias is None else out + bias.view(1, -1, 1, 1)
        # The blur as one fixed depthwise conv that also adds the bias (exact: bias after blur).
        k = torch.flip(self.blur.kernel, [0, 1]).to(out.dtype)
        weight_dw = k.expand(out.shape[1], 1, k.shape[0], k.shape[1])
        return F.conv2d(out, weight_dw, bias, padding=p0, groups=out.shape[1])

    def _forward_fast(
        self, x: torch.Tensor, s: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        dtype = x.dtype
        base, wsq = self._fast_weights()
        s = s.float() * self.scale  # [B, in]; fp32 even under autocast
        # Per-(out, in) weight scale for layout [out, in] (conv) or [in, out] (transposed).
        if self.demodulate:  # demod[b, o] = 1 / |W[o] * s[b]|; gain after it (it would cancel)
            demod = torch.rsqrt((s.pow(2)[:, None, :] * wsq[None]).sum(-1) + self.eps)
            demod = demod * self.input_gain  # [B, out]
        else:
            demod = torch.full((s.shape[0], wsq.shape[0]), self.input_gain, device=s.device)
        bias = None if bias is None else bias.to(dtype)
        if x.shape[0] == 1:  # fold everything into one weight: a single pass over it
            coef = s[0][None, :] * demod[0][:, None]  # [out, in]
            coef = coef.t() if self.upsample else coef
            return self._conv(x, (base * coef[:, :, None, None]).to(dtype), bias)
        # conv(x * s, W) * d == conv(x, W * s * d): one shared weight for the whole batch.
        out = self._conv((x * s[:, :, None, None].to(dtype)), base.to(dtype), None)
        out.mul_(demod[:, :, None, None].to(dtype))
        if bias is not None:
            out.add_(bias.view(1, -1, 1, 1))
        return out


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learned scalar (key ``weight``)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return image + self.weight * noise


class ConstantInput(nn.Module):
    """Learned 4x4 starting tensor (key ``input``)."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated conv -> noise -> fused leaky ReLU."""

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        upsample: bool = False,
        blur_kernel: Sequence[int] = BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channel,
            out_channel,
            kernel_size,
            style_dim,
            upsample=upsample,
            blur_kernel=blur_kernel,
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)
        self.fast = True
        self.defer_gain = False  # fast path: leave sqrt(2) to the consumers' weights

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.fast:  # bias inside the conv, then noise, leaky ReLU and gain in place
            out = self.conv(x, style, bias=self.activate.bias)
            out.add_(self.noise.weight.to(out.dtype) * noise.to(out.dtype))
            out = F.leaky_relu_(out, 0.2)
            return out if self.defer_gain else out.mul_(SQRT2)
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation), plus the upsampled previous RGB."""

    def __init__(
        self,
        in_channel: int,
        style_dim: int,
        upsample: bool = True,
        blur_kernel: Sequence[int] = BLUR_KERNEL,
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        if not self.conv.fast:
            out = self.conv(x, style) + self.bias
            return out if skip is None else out + self.upsample(skip)
        out = self.conv(x, style, bias=self.bias.view(-1))
        return out if skip is None else out.add_(self.upsample(skip))


class Generator(nn.Module):
    """StyleGAN2 synthesis + mapping network; ``forward`` takes W+ latents."""

    def __init__(
        self,
        size: int = 1024,
        style_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        blur_kernel: Sequence[int] = BLUR_KERNEL,
        lr_mlp: float = 0.01,
        channels: dict[int, int] | None = None,
        fast_ops: bool = True,
    ) -> None:
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.log_size = int(math.log2(size))
        if 2**self.log_size != size or size < 4:
            raise ValueError(f"size must be a power of two >= 4, got {size}")
        self.channels = dict(channels or default_channels(channel_multiplier))

        layers: list[nn.Module] = [PixelNorm()]
        for _ in range(n_mlp):
            layers.append(
                EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu")
            )
        self.style = nn.Sequential(*layers)

        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(
            self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel
        )
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)

        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, res, res))
        in_channel = self.channels[4]
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(
                StyledConv(
                    in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel
                )
            )
            self.convs.append(
                StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel)
            )
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel
        self.n_latent = self.log_size * 2 - 2
        self.set_fast_ops(fast_ops)

    def set_fast_ops(self, fast: bool) -> None:
        """Switch every op between the fast path and the naive published semantics."""
        self.fast_ops = fast
        for m in self.modules():
            if hasattr(m, "fast"):
                m.fast = fast
        # Fast path: every StyledConv output feeds only modulated convs (the next StyledConv
        # and a ToRGB), so its sqrt(2) gain moves into their weights: one fewer full pass
        # over the largest activations. conv1 reads the constant input, which has no gain.
        for m in self.modules():
            if isinstance(m, StyledConv):
                m.defer_gain = fast
        consumers = [self.to_rgb1.conv, *(c.conv for c in self.convs)]
        consumers += [t.conv for t in self.to_rgbs]
        for conv in consumers:
            conv.input_gain = SQRT2 if fast else 1.0

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Z [B, style_dim] -> W [B, style_dim] (not used by pSp, which predicts W+)."""
        return self.style(z)

    def noise_buffers(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def forward(
        self,
        latent: torch.Tensor,
        size: int | None = None,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> torch.Tensor:
        """W+ [B, n_latent, style_dim] -> RGB [B, 3, size, size].

        Stops at ``size`` (a power of two up to ``self.size``) and returns that level's
        accumulated RGB skip, which is what the full network would have upsampled further.
        Noise is the fixed ``noises.noise_i`` buffers (the published ``randomize_noise=False``).
        """
        size = self.size if size is None else size
        if size not in {2**i for i in range(2, self.log_size + 1)}:
            raise ValueError(f"size must be a power of two in [4, {self.size}], got {size}")
        if latent.ndim != 3 or latent.shape[1] != self.n_latent:
            raise ValueError(
                f"latent must be [B, {self.n_latent}, {self.style_dim}], got {tuple(latent.shape)}"
            )
        noise = self.noise_buffers()
        out = self.input(latent.shape[0]).contiguous(memory_format=memory_format)
        out = self.conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        res, i = 4, 1
        for conv_up, conv, noise1, noise2, to_rgb in zip(
            self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs, strict=True
        ):
            if res >= size:
                break
            out = conv_up(out, latent[:, i], noise1)
            out = conv(out, latent[:, i + 1], noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            res, i = res * 2, i + 2
        return skip.contiguous()
