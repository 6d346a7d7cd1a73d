"""Random weights in the official file formats, written once per test session.

Nothing is downloaded: each file is a randomly initialised model saved exactly as its
publisher saves it, under its official name, so the real loaders are what the tests exercise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from models.weights import PSP_FFHQ, RESNET50, YOLO_SEG


@pytest.fixture(scope="session")
def psp_ckpt_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A full-size (~1.2 GB) random pSp checkpoint in the official format."""
    from tests.psp_checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path_factory.mktemp("psp") / PSP_FFHQ)
    yield path
    path.unlink(missing_ok=True)  # pytest keeps old tmp dirs; do not leave 1.2 GB behind


@pytest.fixture(scope="session")
def random_resnet_state() -> dict[str, torch.Tensor]:
    from torchvision.models import resnet50

    torch.manual_seed(0)
    return resnet50(weights=None).state_dict()


@pytest.fixture(scope="session")
def resnet_file(tmp_path_factory: pytest.TempPathFactory, random_resnet_state: dict) -> Path:
    """A torchvision ResNet50 state dict, as `resnet50-11ad3fa6.pth` holds it."""
    path = tmp_path_factory.mktemp("resnet") / RESNET50
    torch.save(random_resnet_state, path)
    return path


@pytest.fixture(scope="session")
def yolo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ultralytics YOLO-seg model built from its yaml and saved as trainers save it."""
    from models.segmenter import import_yolo

    path = tmp_path_factory.mktemp("yolo") / YOLO_SEG
    import_yolo()("yolo11n-seg.yaml").save(path)
    return path


@pytest.fixture(scope="session")
def neural_weights_dir(
    tmp_path_factory: pytest.TempPathFactory,
    psp_ckpt_path: Path,
    resnet_file: Path,
    yolo_file: Path,
) -> Path:
    """A weights directory holding every neural file, as an operator would lay it out."""
    weights = tmp_path_factory.mktemp("weights")
    for source in (psp_ckpt_path, resnet_file, yolo_file):
        (weights / source.name).symlink_to(source)
    return weights
