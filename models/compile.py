"""Optional ``torch.compile`` / CUDA graphs for the model stages (``ALBUMIFY_COMPILE``).

Modes: ``off`` (default: eager), ``compile`` (inductor, default mode) and ``cudagraphs``
(inductor with ``mode="reduce-overhead"``: CUDA graphs replay a whole forward as one launch,
which removes the per-kernel launch overhead that dominates batch-1 inference on a GPU).

Why compilation happens at load, not in a job: ``torch.compile`` is lazy and the first call
compiles (tens of seconds on a CPU). The caller passes a warm-up that makes that first call
with the shapes jobs use (batch 1, 256 px faces / 224 px crops; ``dynamic=False`` keeps the
shapes static, which CUDA graphs need), so a failure shows up at start-up, where the module
falls back to eager with a logged warning instead of failing members' jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

from albumify.settings import parse_compile_mode

log = logging.getLogger(__name__)

TORCH_MODES: dict[str, str | None] = {"compile": None, "cudagraphs": "reduce-overhead"}
"""Our mode -> ``torch.compile(mode=...)``."""


def torch_mode_for(mode: str, device: torch.device) -> str | None:
    """CUDA graphs exist only on CUDA: on another device ``cudagraphs`` compiles plainly."""
    if mode == "cudagraphs" and device.type != "cuda":
        log.warning("ALBUMIFY_COMPILE=cudagraphs needs CUDA; compiling without CUDA graphs")
        return None
    return TORCH_MODES[mode]


def is_compiled(module: torch.nn.Module) -> bool:
    """True when ``module.compile()`` is in effect (its ``__call__`` runs the compiled graph)."""
    return getattr(module, "_compiled_call_impl", None) is not None


def compile_module(
    module: torch.nn.Module,
    mode: str,
    device: torch.device,
    warm_up: Callable[[], object],
    name: str,
) -> bool:
    """Compile ``module`` in place and run ``warm_up`` to trigger compilation now.

    In place (``nn.Module.compile``) so parameter names, ``state_dict`` and attribute access
    stay those of the eager module. Returns True when compiled; on any failure the module is
    put back to eager and a warning is logged (a slow worker beats one that fails every job).
    """
    if parse_compile_mode(mode) == "off":
        return False
    started = time.perf_counter()
    try:
        module.compile(mode=torch_mode_for(mode, device), dynamic=False)
        warm_up()
    except Exception as exc:  # inductor, a missing compiler, an unsupported op, ...
        module._compiled_call_impl = None  # nn.Module.compile's hook: back to eager
        log.warning("%s: torch.compile (%s) failed, running eager: %s", name, mode, exc)
        return False
    log.info("%s compiled (%s) in %.1f s", name, mode, time.perf_counter() - started)
    return True
