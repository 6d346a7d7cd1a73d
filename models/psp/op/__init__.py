"""Pure-PyTorch replacements for the CUDA ops of the published StyleGAN2 code."""

from models.psp.op.fused_act import SQRT2, FusedLeakyReLU, fused_leaky_relu
from models.psp.op.upfirdn2d import (
    make_kernel,
    upfirdn2d,
    upfirdn2d_fast,
    upfirdn2d_naive,
)

__all__ = [
    "SQRT2",
    "FusedLeakyReLU",
    "fused_leaky_relu",
    "make_kernel",
    "upfirdn2d",
    "upfirdn2d_fast",
    "upfirdn2d_naive",
]
