"""Neural backends loaded from randomly initialised weights in the official file formats.

No downloads: the fixtures write a random torchvision ResNet50 state dict and a random
ultralytics YOLO-seg checkpoint under their official names, once per session.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, UnidentifiedImageError

from albumify.errors import MissingAsset
from models.embedder import ResNetEmbedder, imagenet_input
from models.faces import Face
from models.segmenter import YoloSegmenter, choose_person
from models.weights import RESNET50, YOLO_SEG

os.environ.setdefault("YOLO_OFFLINE", "1")


def _rng_image(seed: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)  # smooth blobs, not pure noise
    return np.asarray(Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC))


# random_resnet_state, resnet_file, yolo_file: shared fixtures in tests/support/weights.py


@pytest.fixture(scope="session")
def embedder(resnet_file: Path) -> ResNetEmbedder:
    return ResNetEmbedder.load(resnet_file.parent, "cpu")


# --- ResNet50 embedder -------------------------------------------------------------------------


def test_resnet_outputs_unit_vectors(embedder: ResNetEmbedder) -> None:
    images = [_rng_image(1, 300, 200), _rng_image(2, 180, 320), _rng_image(3, 224, 224)]
    vectors = embedder(images)
    assert vectors.shape == (3, 2048) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder([]).shape == (0, 2048)


def test_resnet_is_deterministic_and_batch_independent(embedder: ResNetEmbedder) -> None:
    first, second = _rng_image(4, 256, 300), _rng_image(5, 400, 260)
    batched = embedder([first, second])
    np.testing.assert_array_equal(batched, embedder([first, second]))
    singles = np.concatenate([embedder([first]), embedder([second])])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_resnet_identity_and_names(embedder: ResNetEmbedder) -> None:
    assert (embedder.name, embedder.version, embedder.dim) == (
        "resnet50-v2",
        "torchvision-IMAGENET1K_V2",
        2048,
    )
    assert isinstance(embedder.model.fc, torch.nn.Identity)
    assert not embedder.model.training


def test_preprocessing_is_one_function_for_index_and_query(embedder: ResNetEmbedder) -> None:
    assert embedder.preprocess is imagenet_input
    image = _rng_image(6, 300, 500)
    tensor = imagenet_input(image)
    assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, imagenet_input(Image.fromarray(image)))
    np.testing.assert_array_equal(embedder([image]), embedder([Image.fromarray(image)]))
    # The ImageNet mean colour normalises to zero, whatever the size.
    mean_colour = np.full((120, 90, 3), np.round(np.array([0.485, 0.456, 0.406]) * 255), np.uint8)
    assert np.abs(imagenet_input(mean_colour)).max() < 0.01


def test_resnet_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingAsset, match=f"albumify models fetch {RESNET50}"):
        ResNetEmbedder.load(tmp_path, "cpu")


def test_resnet_rejects_incomplete_state_dict(
    tmp_path: Path, random_resnet_state: dict[str, torch.Tensor]
) -> None:
    incomplete = dict(random_resnet_state)
    del incomplete["layer4.2.conv3.weight"]
    torch.save(incomplete, tmp_path / RESNET50)
    with pytest.raises(MissingAsset, match=r"layer4\.2\.conv3\.weight"):
        ResNetEmbedder.load(tmp_path, "cpu")


# --- YOLO-seg segmenter ------------------------------------------------------------------------


def test_yolo_loads_and_returns_alpha_or_none(yolo_file: Path) -> None:
    segmenter = YoloSegmenter.load(yolo_file.parent, "cpu", imgsz=320)
    assert segmenter.name == "yolo11n-seg"
    image = _rng_image(7, 240, 180)
    face = Face((60.0, 40.0, 120.0, 110.0), np.zeros((5, 2), np.float32), 0.99)
    alpha = segmenter(image, face)
    assert alpha is None or (alpha.shape == (240, 180) and 0 <= alpha.min() <= alpha.max() <= 1)

    # Random weights rarely pass the real threshold; a tiny one exercises the mask path.
    eager = YoloSegmenter(segmenter.model, segmenter.device, conf=1e-4, imgsz=320)
    masks, boxes = eager.people(image)
    assert masks.shape[1:] == (240, 180) and boxes.shape == (len(masks), 4)
    alpha = eager(image, face)
    assert alpha is None or (alpha.shape == (240, 180) and alpha.dtype == np.float32)
    if alpha is not None:
        assert 0 <= alpha.min() <= alpha.max() <= 1


def test_yolo_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(MissingAsset, match=f"albumify models fetch {YOLO_SEG}"):
        YoloSegmenter.load(tmp_path, "cpu")
    (tmp_path / YOLO_SEG).write_bytes(b"not a checkpoint")
    with pytest.raises(MissingAsset, match="not an ultralytics checkpoint"):
        YoloSegmenter.load(tmp_path, "cpu")


def test_loading_yolo_leaves_pil_alone(yolo_file: Path) -> None:
    """ultralytics patches Image.open to pip-install pi-heif on unknown files; bad photos must
    still raise Pillow's own error (exit 3), never try to install anything."""
    YoloSegmenter.load(yolo_file.parent, "cpu")
    assert Image.open.__module__ == "PIL.Image"
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(b"not an image at all"))


def _blob_masks(*boxes: tuple[int, int, int, int], shape: tuple[int, int] = (100, 100)):
    masks = np.zeros((len(boxes), *shape), np.float32)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes, strict=True):
        mask[y0:y1, x0:x1] = 1.0
    return masks, np.array(boxes, np.float32)


def test_choose_person_prefers_the_one_holding_the_face() -> None:
    masks, boxes = _blob_masks((0, 0, 30, 100), (40, 0, 100, 100))
    assert choose_person(masks, boxes, (10.0, 20.0)) == 0  # smaller, but the face is on it
    assert choose_person(masks, boxes, None) == 1  # no face: the largest
    assert choose_person(masks, boxes, (35.0, 20.0)) == 1  # face on nobody: the largest


def test_choose_person_falls_back_from_mask_to_box() -> None:
    masks, boxes = _blob_masks((0, 0, 30, 100), (40, 0, 100, 100))
    masks[0, 10:30, 5:15] = 0  # a hole in person 0's mask where the face is
    boxes[0] = (0, 0, 30, 100)
    assert choose_person(masks, boxes, (10.0, 20.0)) == 0
    # Two masks hold the face: the larger (nearer) one wins.
    masks, boxes = _blob_masks((0, 0, 50, 50), (0, 0, 100, 100))
    assert choose_person(masks, boxes, (10.0, 10.0)) == 1


def test_choose_person_with_nobody() -> None:
    assert choose_person(np.zeros((0, 10, 10)), np.zeros((0, 4)), (5.0, 5.0)) is None
    assert choose_person(np.zeros((2, 10, 10)), np.ones((2, 4)), None) is None
