"""FFHQ-style face alignment from 5 landmarks, and pasting a face back (numpy + cv2 only).

pSp was trained on FFHQ crops, so a member's face must be cut out the way FFHQ was: the
crop is a square oriented by the eyes and mouth, sized by eye distance and eye-to-mouth
distance (the recipe of NVlabs/ffhq-dataset ``recreate_aligned_images``, written for 68
landmarks, needs only eye centres and mouth corners, which 5-point detectors give).
Torch-free so the CPU-only parts of the pipeline can use it.

Coordinates are OpenCV's: pixel centres at integers. The quad's corners map to the outer
corners of the output square (-0.5 and size - 0.5), matching FFHQ's ``quad + 0.5`` into PIL.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: MTCNN order of the 5 landmarks (image left/right: "left eye" is the one with smaller x).
LANDMARK_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

_BORDERS = {
    "reflect": cv2.BORDER_REFLECT,
    "edge": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
}


@dataclass(frozen=True)
class AlignedFace:
    """The aligned crop and the 2x3 affine map from source-image to crop coordinates."""

    image: np.ndarray  # [size, size, 3] uint8 RGB
    matrix: np.ndarray  # [2, 3] float64, source (x, y) -> aligned (x, y)

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def to_aligned(self, points: np.ndarray) -> np.ndarray:
        """Map [N, 2] source-image points into the crop."""
        return transform_points(self.matrix, points)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer(inner(p)) for 2x3 affines."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return a[:2]


def _scale_centres(sx: float, sy: float) -> np.ndarray:
    """Affine for a resize by (sx, sy) in pixel-centre coordinates, as cv2.resize samples."""
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm).all():
        raise ValueError(f"landmarks must be a finite [5, 2] array, got shape {lm.shape}")
    return lm


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """FFHQ crop quad [4, 2]: top-left, bottom-left, bottom-right, top-right."""
    lm = _check_landmarks(landmarks)
    eye_avg = (lm[0] + lm[1]) * 0.5
    eye_to_eye = lm[1] - lm[0]
    mouth_avg = (lm[3] + lm[4]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    # x axis: along the eyes, corrected by the eye->mouth direction turned 90 degrees.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    norm = np.hypot(*x)
    if norm < 1e-6:
        raise ValueError("degenerate landmarks: cannot orient the face")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_to_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """Similarity taking the quad's corners to the output square's outer corners."""
    src = np.asarray(quad, dtype=np.float64)[[0, 3, 1]]  # top-left, top-right, bottom-left
    lo, hi = -0.5, size - 0.5
    dst = np.array([[lo, lo], [hi, lo], [lo, hi]])
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int = 256, border: str = "reflect"
) -> AlignedFace:
    """Crop an FFHQ-aligned ``size`` x ``size`` face from an RGB uint8 image.

    ``landmarks``: [5, 2] (x, y) in MTCNN order (see ``LANDMARK_ORDER``). Big reductions are
    pre-shrunk with INTER_AREA (as FFHQ does) so the bilinear warp does not alias.
    ``border``: "reflect" (FFHQ-like), "edge" or "constant" (black) outside the photo.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {sorted(_BORDERS)}, got {border!r}")
    quad = ffhq_quad(landmarks)
    matrix = quad_to_matrix(quad, size)
    src = image
    warp = matrix
    qsize = np.hypot(*(quad[3] - quad[0]))
    shrink = int(np.floor(qsize / size * 0.5))
    if shrink > 1:
        h, w = image.shape[:2]
        new_w, new_h = max(1, round(w / shrink)), max(1, round(h / shrink))
        src = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        to_small = _scale_centres(new_w / w, new_h / h)
        warp = compose_affine(matrix, invert_affine(to_small))
    out = cv2.warpAffine(
        np.ascontiguousarray(src),
        warp,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=_BORDERS[border],
        borderValue=(0, 0, 0),
    )
    return AlignedFace(image=out, matrix=matrix)


def ellipse_mask(size: int, feather: float = 0.1, axes: tuple[float, float] = (0.46, 0.5)):
    """Soft ellipse in the aligned square: 1 inside, smooth fall-off over ``feather``.

    ``axes`` are semi-axes as fractions of ``size``; ``feather`` is the fall-off width as a
    fraction of the radius (0 gives a hard edge).
    """
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot((xx - c) / (axes[0] * size), (yy - c) / (axes[1] * size))
    if feather <= 0:
        return (r <= 1).astype(np.float32)
    t = np.clip((1.0 - r) / feather, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep: no visible seam


def paste_face(
    dst_image: np.ndarray,
    face_image: np.ndarray,
    matrix: np.ndarray,
    feather: float = 0.1,
    *,
    aligned_size: int | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Warp an aligned face back into ``dst_image`` and blend it with a soft mask.

    ``matrix`` is :attr:`AlignedFace.matrix` (source -> aligned of ``aligned_size``, default
    the face's own size; a face generated at another size, e.g. 1024 for a 256 crop, is
    rescaled). ``mask`` ([S, S] float in [0, 1], aligned space) overrides the feathered
    ellipse. Returns a new uint8 image; pixels outside the mask are untouched.
    """
    if dst_image.ndim != 3 or dst_image.shape[2] != 3 or dst_image.dtype != np.uint8:
        raise ValueError(f"dst_image must be HxWx3 uint8, got {dst_image.shape} {dst_image.dtype}")
    if face_image.ndim != 3 or face_image.shape[0] != face_image.shape[1]:
        raise ValueError(f"face_image must be a square HxWx3 image, got {face_image.shape}")
    s = face_image.shape[0]
    m = np.asarray(matrix, dtype=np.float64)
    if aligned_size is not None and aligned_size != s:
        k = s / aligned_size
        m = compose_affine(_scale_centres(k, k), m)
    soft = ellipse_mask(s, feather) if mask is None else np.asarray(mask, dtype=np.float32)
    h, w = dst_image.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # m maps dst pixels into the face
    face = cv2.warpAffine(
        np.ascontiguousarray(face_image), m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE
    )
    alpha = cv2.warpAffine(soft, m, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT)[..., None]
    out = dst_image.astype(np.float32) * (1.0 - alpha) + face.astype(np.float32) * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
