"""Loader for the official pSp checkpoint (``psp_ffhq_encode.pt``, loaded unchanged).

The file is a dict ``{"state_dict", "latent_avg", "opts"}``. It is read with
``torch.load(weights_only=True)``: tensors and plain containers only, no code runs; and with
``mmap=True`` when the file is in torch's zip format: the tensors are then views of the
page-cached file instead of a private copy read in full up front, so loading is cheaper and
workers on one host share the weights' pages (the keys are still checked strictly).

How ``opts`` is handled: it is a dict of plain values (str/int/float/bool/None) saved from
the training argparse namespace. We *read* a few fields to validate that the file is the
model we implement and to decide how to apply ``latent_avg`` -- ``encoder_type`` must be
``GradualStyleEncoder``, ``input_nc`` 3, ``output_size`` 1024 (defaults to 1024 when absent,
as in the official loader), ``label_nc`` 0, ``learn_in_w`` must be false (the gradual
encoder already predicts W+), ``start_from_latent_avg`` says whether ``latent_avg`` is added
(defaults to "a latent_avg is present"). Everything else is training-only and ignored.
Nothing in ``opts`` is ever executed, imported or used as a path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.device import load_weights_only


class CheckpointError(ValueError):
    """The file is not a pSp FFHQ encoder checkpoint we can load exactly."""

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[str] | None = None,
    ) -> None:
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.mismatched = list(mismatched or [])
        parts = [message]
        for label, keys in (
            ("missing keys", self.missing),
            ("unexpected keys", self.unexpected),
            ("shape mismatches", self.mismatched),
        ):
            if keys:
                more = f", ... ({len(keys)} in all)" if len(keys) > 10 else ""
                shown = ", ".join(keys[:10]) + more
                parts.append(f"{label}: {shown}")
        super().__init__("; ".join(parts))


@dataclass
class PSPCheckpoint:
    """What the model needs from the file, validated."""

    state_dict: dict[str, torch.Tensor]
    latent_avg: torch.Tensor | None
    start_from_latent_avg: bool
    output_size: int
    opts: dict[str, Any] = field(default_factory=dict)


def validate_opts(opts: Mapping[str, Any], has_latent_avg: bool) -> tuple[bool, int]:
    """Check the fields the official loader reads; return (start_from_latent_avg, size)."""
    encoder_type = opts.get("encoder_type", "GradualStyleEncoder")
    if encoder_type != "GradualStyleEncoder":
        raise CheckpointError(
            f"unsupported encoder_type {encoder_type!r} (need GradualStyleEncoder)"
        )
    if opts.get("input_nc", 3) != 3:
        raise CheckpointError(f"unsupported input_nc {opts.get('input_nc')!r} (need 3)")
    if opts.get("label_nc", 0) not in (0, None):
        raise CheckpointError(f"unsupported label_nc {opts.get('label_nc')!r} (need 0)")
    output_size = opts.get("output_size", 1024)
    if output_size != 1024:
        raise CheckpointError(f"unsupported output_size {output_size!r} (need 1024)")
    if opts.get("learn_in_w", False):
        raise CheckpointError("learn_in_w=True does not fit the GradualStyleEncoder (W+ output)")
    start = bool(opts.get("start_from_latent_avg", has_latent_avg))
    if start and not has_latent_avg:
        raise CheckpointError("start_from_latent_avg is set but the file has no latent_avg")
    return start, int(output_size)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> PSPCheckpoint:
    """Load and validate the container (not the keys -- see :func:`check_state_dict`)."""
    try:
        ckpt = load_weights_only(path, map_location)
    except FileNotFoundError:
        raise
    except Exception as exc:  # unpickling refused or corrupt file
        raise CheckpointError(f"cannot read {path} as a weights-only checkpoint: {exc}") from exc
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: expected a dict with 'state_dict', 'latent_avg', 'opts'")
    opts = ckpt.get("opts") or {}
    if not isinstance(opts, Mapping):
        raise CheckpointError(f"{path}: 'opts' must be a dict of plain values")
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.shape[-1] != 512:
            raise CheckpointError(f"{path}: latent_avg must be a [18, 512] or [512] tensor")
        latent_avg = latent_avg.float()
    start, output_size = validate_opts(opts, latent_avg is not None)
    return PSPCheckpoint(dict(ckpt["state_dict"]), latent_avg, start, output_size, dict(opts))


def check_state_dict(expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`CheckpointError` naming every missing, extra or mis-shaped key."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    mismatched = [
        f"{k} {list(got[k].shape)} != {list(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            "state_dict does not match the pSp FFHQ model",
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched,
        )
