"""Build a random pSp checkpoint in the official ``psp_ffhq_encode.pt`` format.

Weights come from our own modules (seeded random init). Parameters the official init leaves
at zero (biases, noise strengths, BN running means) are perturbed so a test would notice if
one were ignored. The result is checked against the published key list before use, so a
passing load test means "loads the real file's keys and shapes", not "loads itself".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from models.psp import PSP

KEYS_JSON = Path(__file__).resolve().parent / "data" / "psp_ffhq_encode.keys.json"

# A plausible opts dict: plain values only, like the argparse namespace pSp saves.
OFFICIAL_OPTS: dict[str, Any] = {
    "exp_dir": "experiments/ffhq_encode",
    "dataset_type": "ffhq_encode",
    "encoder_type": "GradualStyleEncoder",
    "input_nc": 3,
    "label_nc": 0,
    "output_size": 1024,
    "batch_size": 8,
    "learning_rate": 0.0001,
    "optim_name": "ranger",
    "start_from_latent_avg": True,
    "learn_in_w": False,
    "lpips_lambda": 0.8,
    "id_lambda": 0.1,
    "l2_lambda": 1.0,
    "w_norm_lambda": 0.0,
    "stylegan_weights": "pretrained_models/stylegan2-ffhq-config-f.pt",
    "checkpoint_path": None,
    "max_steps": 500000,
    "device": "cuda:0",
}


def reference_shapes() -> dict[str, list[int]]:
    """Key -> shape of the official checkpoint's state dict."""
    return json.loads(KEYS_JSON.read_text())["state_dict"]


def assert_matches_reference(state_dict: dict[str, torch.Tensor]) -> None:
    ref = reference_shapes()
    missing = sorted(set(ref) - set(state_dict))
    extra = sorted(set(state_dict) - set(ref))
    wrong = [k for k in ref if k in state_dict and list(state_dict[k].shape) != ref[k]]
    assert not (missing or extra or wrong), f"missing={missing} extra={extra} wrong={wrong}"


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = PSP()
    state = {k: v.detach() for k, v in model.state_dict().items()}  # model is thrown away
    gen = torch.Generator().manual_seed(seed + 1)
    for key, value in state.items():
        if not value.is_floating_point() or key.endswith("kernel"):
            continue  # num_batches_tracked, fixed blur kernels
        if key.endswith("running_var"):
            value.uniform_(0.5, 1.5, generator=gen)
        elif value.numel() <= 4096 and bool((value == 0).all()):  # biases, noise strengths
            value.normal_(0.0, 0.1, generator=gen)
    assert_matches_reference(state)
    return state


def build_checkpoint(seed: int = 0) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed + 2)
    return {
        "state_dict": random_state_dict(seed),
        "latent_avg": torch.randn(18, 512, generator=gen),
        "opts": dict(OFFICIAL_OPTS),
    }


def save_checkpoint(path: Path, ckpt: dict[str, Any] | None = None) -> Path:
    torch.save(build_checkpoint() if ckpt is None else ckpt, path)
    return path
