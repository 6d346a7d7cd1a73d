"""Shared test set-up: no network, a private cache, and fixtures every room uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PHOTO = ROOT / "devtools" / "data" / "astronaut.png"

# ultralytics tries the network at import unless told not to.
os.environ.setdefault("YOLO_OFFLINE", "1")
# Keep the generated starter library out of the user's cache, but reuse it between runs.
os.environ.setdefault("ALBUMIFY_CACHE", str(ROOT / ".cache" / "test-cache"))
# No weights unless a test provides them: the embedded defaults are what tests exercise.
os.environ.setdefault("ALBUMIFY_WEIGHTS", str(ROOT / ".cache" / "no-weights"))
os.environ.pop("ALBUMIFY_INDEX", None)

pytest_plugins: list[str] = ["tests.support.fixtures", "tests.support.weights"]


@pytest.fixture(scope="session")
def example_photo() -> Path:
    return EXAMPLE_PHOTO
