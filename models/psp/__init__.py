"""pSp (pixel2style2pixel) in pure PyTorch: IR-SE50 encoder -> W+ -> StyleGAN2 generator."""

from models.psp.checkpoint import CheckpointError
from models.psp.model import PSP, mix_styles

__all__ = ["PSP", "CheckpointError", "mix_styles"]
