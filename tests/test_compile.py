"""ALBUMIFY_COMPILE parsing, its eager default and fallback, and mmap weight loading.

No timings are asserted; the compile smoke test compiles one tiny Linear (seconds on CPU).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from albumify.settings import Settings, parse_compile_mode
from models.backends import Stages
from models.compile import compile_module, is_compiled, torch_mode_for
from models.device import load_weights_only

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        (None, "off"),
        ("", "off"),
        (" off ", "off"),
        ("COMPILE", "compile"),
        ("cudagraphs", "cudagraphs"),
    ],
)
def test_compile_mode_parses(raw, mode):
    assert parse_compile_mode(raw) == mode


def test_compile_mode_defaults_to_off(monkeypatch):
    monkeypatch.delenv("ALBUMIFY_COMPILE", raising=False)
    assert Settings().compile_mode == "off"
    assert Settings.from_env().compile_mode == "off"


def test_compile_mode_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALBUMIFY_COMPILE", "cudagraphs")
    assert Settings.from_env().compile_mode == "cudagraphs"


def test_invalid_compile_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ALBUMIFY_COMPILE", "fast")
    with pytest.raises(
        ValueError, match=r"ALBUMIFY_COMPILE must be one of off, compile, cudagraphs"
    ):
        Settings.from_env()
    with pytest.raises(ValueError, match="ALBUMIFY_COMPILE"):
        Settings(compile_mode="max-autotune")


def test_cudagraphs_needs_cuda_and_otherwise_compiles_plainly():
    assert torch_mode_for("cudagraphs", torch.device("cuda")) == "reduce-overhead"
    assert torch_mode_for("cudagraphs", CPU) is None
    assert torch_mode_for("compile", torch.device("cuda")) is None


class Recorder:
    """A stage model that records the compile mode it was asked for."""

    name = "recorder"

    def __init__(self) -> None:
        self.modes: list[str] = []

    def compile(self, mode: str) -> None:
        self.modes.append(mode)


def test_off_compiles_nothing_and_other_modes_reach_the_neural_stages():
    embedder, styler = Recorder(), Recorder()
    stages = Stages(detector=None, embedder=embedder, segmenters=(), stylers=(styler,))
    stages.compile("off")
    assert embedder.modes == styler.modes == []
    stages.compile("compile")
    assert embedder.modes == styler.modes == ["compile"]


def test_off_leaves_the_module_eager():
    module = torch.nn.Linear(4, 4)
    assert not compile_module(module, "off", CPU, lambda: module(torch.ones(1, 4)), "linear")
    assert not is_compiled(module)


def test_a_failing_compile_falls_back_to_eager_with_a_warning(caplog):
    module = torch.nn.Linear(4, 4)

    def broken_warm_up() -> None:
        raise RuntimeError("no C compiler")

    with caplog.at_level(logging.WARNING, logger="models.compile"):
        assert not compile_module(module, "compile", CPU, broken_warm_up, "linear")
    assert not is_compiled(module)
    assert "linear: torch.compile (compile) failed, running eager: no C compiler" in caplog.text
    assert module(torch.ones(1, 4)).shape == (1, 4)


def test_compile_smoke_on_a_tiny_module():
    module = torch.nn.Linear(4, 3).eval()
    x = torch.randn(2, 4)
    with torch.inference_mode():
        expected = module(x)
        assert compile_module(module, "compile", CPU, lambda: module(x), "linear")
        assert is_compiled(module)
        torch.testing.assert_close(module(x), expected)
    assert set(module.state_dict()) == {"weight", "bias"}  # in place: names unchanged


@pytest.mark.parametrize("zip_format", [True, False])
def test_weights_load_mapped_or_from_the_legacy_format(tmp_path: Path, zip_format: bool):
    state = {"weight": torch.randn(3, 4), "bias": torch.randn(3)}
    path = tmp_path / "weights.pt"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    loaded = load_weights_only(path)
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value)
