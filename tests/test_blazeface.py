"""BlazeFace under LiteRT, the faces stage's detector: MediaPipe's real model files, the
same 5 landmarks in the same order as MTCNN (so alignment and existing indexes hold), and the
faces of a real group photo."""

from __future__ import annotations

import numpy as np
import pytest

from models.align import LANDMARK_ORDER, align_face
from models.blazeface import (
    FULL_RANGE,
    SHORT_RANGE,
    BlazeFaceDetector,
    anchor_centres,
    five_landmarks,
    weighted_nms,
)
from models.faces import FaceDetector, main_face
from tests import photos


@pytest.fixture(scope="module")
def blazeface() -> BlazeFaceDetector:
    return BlazeFaceDetector()


@pytest.fixture(scope="module")
def mtcnn() -> FaceDetector:
    return FaceDetector()


def test_anchors_match_each_model_file() -> None:
    assert anchor_centres(SHORT_RANGE).shape == (896, 2)
    assert anchor_centres(FULL_RANGE).shape == (2304, 2)
    for variant in (SHORT_RANGE, FULL_RANGE):  # the constructor checks the model's outputs
        detector = BlazeFaceDetector(variant)
        assert detector.model.output_shapes == [
            (len(detector.anchors), 16),
            (len(detector.anchors), 1),
        ]
    centres = anchor_centres(SHORT_RANGE)
    assert np.allclose(centres[0], [0.5 / 16, 0.5 / 16]) and np.allclose(centres[1], centres[0])
    assert np.allclose(centres[512], [0.5 / 8, 0.5 / 8])  # the 8×8 layers, 6 anchors a cell


def main(detector: object, rgb: np.ndarray):
    return main_face(detector.detect(rgb), (rgb.shape[1], rgb.shape[0]))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name", ["astronaut", "grace-hopper", "cameraman", "poker-player-1", "poker-player-3"]
)
def test_the_five_landmarks_are_mtcnns_in_mtcnns_order(name, blazeface, mtcnn) -> None:
    rgb = np.asarray(photos.photo(name))
    ours, theirs = main(blazeface, rgb), main(mtcnn, rgb)
    assert ours is not None and theirs is not None
    assert ours.landmarks.shape == (5, 2) and ours.landmarks.dtype == np.float32
    left_eye, right_eye, nose, mouth_left, mouth_right = ours.landmarks
    assert LANDMARK_ORDER == ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    # Where MTCNN put each landmark, within a seventh of the face's width.
    error = np.linalg.norm(ours.landmarks - theirs.landmarks, axis=1) / theirs.width
    assert error.max() < 0.15, error
    # The FFHQ alignment (pSp's input) lands MTCNN's points within 12 of 256 px.
    by_ours, by_theirs = (
        align_face(rgb, ours.landmarks, 256),
        align_face(rgb, theirs.landmarks, 256),
    )
    moved = by_ours.to_aligned(theirs.landmarks) - by_theirs.to_aligned(theirs.landmarks)
    assert np.linalg.norm(moved, axis=1).max() < 12


def test_mouth_corners_sit_on_the_mouth_centre_along_the_eye_line() -> None:
    keypoints = np.array([[60, 40], [40, 40], [50, 55], [50, 70], [70, 45], [30, 45]], np.float32)
    left_eye, right_eye, _, mouth_left, mouth_right = five_landmarks(keypoints)
    assert list(left_eye) == [40, 40] and list(right_eye) == [60, 40]  # image-left first
    assert np.allclose((mouth_left + mouth_right) / 2, [50, 70])  # alignment uses the midpoint
    assert np.allclose(mouth_right - mouth_left, [20 * 2 * 0.414, 0], atol=1e-3)


def test_overlapping_hits_merge_and_a_part_of_a_face_is_dropped() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [2, 2, 6, 6], [50, 50, 60, 60]], np.float32)
    points = np.zeros((4, 6, 2), np.float32)
    scores = np.array([0.9, 0.6, 0.8, 0.7], np.float32)
    kept = weighted_nms(boxes, points, scores, 0.3)
    assert len(kept) == 2
    (first, _, score), (second, _, _) = kept
    assert score == pytest.approx(0.9) and np.allclose(first, [0.4, 0.4, 10.4, 10.4])
    assert np.allclose(second, boxes[3])


def test_faces_of_real_group_photos_and_none_where_there_are_none(blazeface) -> None:
    assert len(blazeface.detect(np.asarray(photos.photo("poker-table")))) == 6
    for photo in photos.of_kind(photos.Kind.NO_FACE):
        assert blazeface.detect(np.asarray(photo.image())) == [], photo.name
    tiny = np.asarray(photos.photo("small-face-112"))
    assert len(blazeface.detect(tiny)) == 1


def test_the_main_face_of_a_crop_is_its_player(blazeface) -> None:
    for photo in photos.PHOTOS:
        if photo.subject is None:
            continue
        rgb = np.asarray(photo.image())
        face = main(blazeface, rgb)
        x, y = photo.subject_point()  # type: ignore[misc]
        assert face is not None and face.box[0] <= x <= face.box[2], photo.name
        assert face.box[1] <= y <= face.box[3], photo.name
