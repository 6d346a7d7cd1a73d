"""Fused bias + leaky ReLU + gain, the activation of every StyleGAN2 layer.

The published op is a CUDA kernel; on CPU one expression (bias add, leaky ReLU, scale)
is as fast as it gets and has the same numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
) -> torch.Tensor:
    """leaky_relu(x + bias) * scale, bias broadcast over dim 1 (channels or features)."""
    shape = (1, bias.shape[0]) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Activation with its own per-channel bias (state-dict key ``bias``)."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)
