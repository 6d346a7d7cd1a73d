"""The person matte: MediaPipe's selfie segmenter, kept to the one person who holds the face.

The selfie model (256×256, pixels in [0, 1], person probability out) is made for
head-and-shoulders frames, so it runs on a square around the main face. It finds every
person, so the member's neighbours are taken out with two cues that fail differently:
- MediaPipe's pose model, run on a window framed like its own body crops, outputs a mask of
  the one person it tracks: what lies far from it is someone else's (an arm, a shoulder);
- the other detected faces: each neighbour's head, and what is nearer their body than the
  member's where the pose mask does not claim it.
Then only the connected region holding the face is kept. The 256 px mask's edge is refined at
the compositing resolution with a fast guided filter (the photo's luminance as the guide),
then feathered. None when the segmenter finds nobody at the face: the pipeline then falls
back to GrabCut, per photo.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from models.align import compose_affine, invert_affine
from models.faces import Face
from models.litert import LiteRTModel, square_window
from models.segmenter import FaceSeededMatte

SIDE = 256
"""Both models' input side."""
REFINE_SIDE = 768
"""The matte's edge is refined on a window this size: about the size the cut-out is drawn on
a 1024 px cover, so the edge is sharp there whatever the photo's resolution."""
WINDOW_FACES = 5.0
"""The selfie window's side in face heights (head, shoulders and chest, as in a selfie)."""
WIDEN, EDGE_RUN = 1.5, 4
"""A person running into the window's side for more than EDGE_RUN of its 256 rows (a coat,
an elbow) gets a second pass on a window this much wider."""
WINDOW_ABOVE = 0.8
"""Room above the face box (hair), in face heights."""
POSE_FRAMINGS = ((6.5, 2.2), (5.0, 1.7), (8.0, 2.5))
"""Pose windows, tried in turn: side in face heights, centre's drop below the face centre."""
POSE_CORE = 0.3
"""Pose mask above this: the tracked person's body for sure."""
POSE_REACH = 0.15
"""How far (in face widths) the member may extend past that body: hair, sleeves, edges."""
MIN_PERSON = 0.5
"""Fewer person pixels than this share of the face box means nobody was found."""
GUIDE_RADIUS, GUIDE_EPS = 2, 1e-3
"""Fast guided filter: the box radius at the model's 256 px and the edge regulariser."""
EDGES = ("guided", "bilinear")
"""How the 256 px matte becomes the compositing resolution's (bench/bench_matte.py)."""
EDGE_CONTRAST = 1.6
"""Steepen the filtered edge around 0.5: the guided filter leaves a wide soft ramp."""


class SelfieMatte(FaceSeededMatte):
    """`matte(image, face, others) -> alpha float32 [H, W] in [0, 1]`, or None."""

    name = "selfie"

    def __init__(self, threads: int | None = None, edge: str = "guided"):
        if edge not in EDGES:
            raise ValueError(f"edge must be one of {EDGES}, not {edge!r}")
        self.edge = edge
        self.selfie = LiteRTModel.from_mediapipe(
            "selfie_segmentation/selfie_segmentation.tflite", threads
        )
        self.pose = LiteRTModel.from_mediapipe("pose_landmark/pose_landmark_full.tflite", threads)

    def cut(self, image: np.ndarray, face: Face, others: Sequence[Face]) -> np.ndarray | None:
        height, width = image.shape[:2]
        for faces_high in (WINDOW_FACES, WINDOW_FACES * WIDEN):
            centre, side = selfie_window(face, width, height, faces_high)
            window, matrix = square_window(image, centre, side, SIDE)
            person = self.selfie(window.astype(np.float32) / 255.0)[0][:, :, 0]
            keep = self.member_only(image, person, matrix, face, others)
            if keep is None or not _cut_by_window(keep, matrix, width):
                break
        if keep is None:
            return None
        coarse = person * cv2.GaussianBlur(keep.astype(np.float32), (5, 5), 1.0)
        return self.refine(image, window, coarse, centre, side)

    # -- who is the member ----------------------------------------------------------------
    def member_only(
        self,
        image: np.ndarray,
        person: np.ndarray,
        matrix: np.ndarray,
        face: Face,
        others: Sequence[Face],
    ) -> np.ndarray | None:
        """The window's pixels that are the member (uint8 0/1), or None: nobody there.

        The body is what the selfie and pose models both see (plus the head, which the pose
        mask trims), connected to the face; then the selfie's pixels within a short reach of
        that body are added back (hair, sleeves, the pose mask's soft rim).
        """
        member = _in_window(face, matrix)
        seen = person > 0.5
        neighbours = [_in_window(o, matrix) for o in others if not _overlaps(o, face)]
        claimed = self.pose_mask(image, face, matrix) > POSE_CORE
        if neighbours:
            theirs = _territory(member, neighbours) & ~claimed
            for neighbour in neighbours:
                theirs |= _ellipse(neighbour, 1.25, 1.35, lift=0.15)
            seen &= ~theirs
        core = seen & (claimed | _ellipse(member, 1.0, 1.05, lift=0.1)) if claimed.any() else seen
        body = _holding(core, member)
        if body is None:
            return None
        reach = cv2.dilate(body, _disc(POSE_REACH * member.width)) > 0
        # Opening cuts the thin bridges along which a neighbour's hair or hand hangs on.
        opened = cv2.morphologyEx((seen & reach).astype(np.uint8), cv2.MORPH_OPEN, _disc(1))
        return _holding(opened > 0, member)

    def pose_mask(self, image: np.ndarray, face: Face, matrix: np.ndarray) -> np.ndarray:
        """The pose model's person mask, in the selfie window's pixels (0 where it sees no one).

        Its window is framed as MediaPipe frames a body: centred below the face, wide enough
        for the shoulders and arms. How sure it is that someone is there moves with the
        framing (a small photo, a bent body), so the next framing is tried when it is not;
        its mask is a logit map.
        """
        for faces_high, below in POSE_FRAMINGS:
            centre = (face.centre[0], face.centre[1] + below * face.height)
            window, pose_matrix = square_window(image, centre, faces_high * face.height, SIDE)
            outputs = self.pose(window.astype(np.float32) / 255.0)
            if float(outputs[1].ravel()[0]) >= 0.5:  # the model's "a person is here" score
                break
        else:
            return np.zeros((SIDE, SIDE), np.float32)
        mask = 1.0 / (1.0 + np.exp(-np.clip(outputs[2][:, :, 0], -30, 30)))
        # pose window → photo → selfie window
        to_selfie = compose_affine(matrix, invert_affine(pose_matrix))
        return cv2.warpAffine(mask, to_selfie, (SIDE, SIDE), flags=cv2.INTER_LINEAR)

    # -- the edge ---------------------------------------------------------------------------
    def refine(
        self,
        image: np.ndarray,
        window: np.ndarray,
        coarse: np.ndarray,
        centre: tuple[float, float],
        side: float,
    ) -> np.ndarray:
        """Fast guided filter: the linear model of matte on luminance is fitted on the 256 px
        `window` and applied on a `REFINE_SIDE` window of the photo, then put back in place
        (`edge="bilinear"`: the 256 px matte only resized, to measure against)."""
        out = int(min(REFINE_SIDE, max(SIDE, round(side))))
        guide, matrix = square_window(image, centre, side, out)
        up = (out, out)
        if self.edge == "guided":
            a, b = _guided_coefficients(_luminance(window), coarse, GUIDE_RADIUS, GUIDE_EPS)
            alpha = cv2.resize(a, up) * _luminance(guide) + cv2.resize(b, up)
            alpha = np.clip((alpha - 0.5) * EDGE_CONTRAST + 0.5, 0.0, 1.0)
        else:
            alpha = cv2.resize(coarse, up, interpolation=cv2.INTER_LINEAR)
        alpha *= cv2.resize(coarse, up) > 0.02  # nothing where the segmenter saw nobody
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.6, out / 700))
        height, width = image.shape[:2]
        placed = cv2.warpAffine(
            alpha.astype(np.float32),
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderValue=0,
        )
        return np.clip(placed, 0.0, 1.0, out=placed)  # interpolation can overshoot by an ulp


def selfie_window(
    face: Face, width: int, height: int, faces_high: float = WINDOW_FACES
) -> tuple[tuple[float, float], float]:
    """The selfie model's square (centre, side) around `face`, `faces_high` face heights:
    head, shoulders and chest, moved (and shrunk, for a close-up) to stay inside the photo
    where it can: the model sees nobody in a frame that is mostly padding."""
    side = min(faces_high * face.height, float(max(width, height)))
    top = face.box[1] - WINDOW_ABOVE * face.height
    cx = face.centre[0]
    if side <= width:
        cx = float(np.clip(cx, side / 2, width - side / 2))
    if side <= height:
        top = float(np.clip(top, 0.0, height - side))
    return (cx, top + side / 2), side


def _cut_by_window(keep: np.ndarray, matrix: np.ndarray, width: int) -> bool:
    """Whether the member runs into the window's left or right edge where the photo goes on:
    the cut-out would end in a straight line that is in neither the photo nor the person."""
    scale, shift = matrix[0, 0], matrix[0, 2]
    left, right = -shift / scale, (SIDE - shift) / scale  # the window's edges, photo px
    return bool(
        (left > 1 and np.count_nonzero(keep[:, 0]) > EDGE_RUN)
        or (right < width - 1 and np.count_nonzero(keep[:, -1]) > EDGE_RUN)
    )


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _guided_coefficients(
    guide: np.ndarray, source: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s guided filter: per-pixel a, b (smoothed) with output = a * guide + b."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(source)
    covariance = box(guide * source) - mean_i * mean_p
    variance = box(guide * guide) - mean_i * mean_i
    a = covariance / (variance + eps)
    b = mean_p - a * mean_i
    return box(a), box(b)


def _in_window(face: Face, matrix: np.ndarray) -> Face:
    """`face` in a square window's pixels (the map is a scale and a shift)."""
    scale, shift = matrix[0, 0], matrix[:, 2]
    x0, y0, x1, y1 = face.box
    box = (
        x0 * scale + shift[0],
        y0 * scale + shift[1],
        x1 * scale + shift[0],
        y1 * scale + shift[1],
    )
    return Face(box, face.landmarks * scale + shift, face.score)


def _ellipse(face: Face, across: float, down: float, lift: float) -> np.ndarray:
    """A head: the face box's ellipse grown `across`/`down` times, raised by `lift` heights."""
    mask = np.zeros((SIDE, SIDE), np.uint8)
    cx, cy = face.centre
    axes = (
        max(1, round(face.width * across / 2 * 1.2)),
        max(1, round(face.height * down / 2 * 1.2)),
    )
    cv2.ellipse(mask, (round(cx), round(cy - lift * face.height)), axes, 0, 0, 360, 1, -1)
    return mask > 0


def _territory(member: Face, neighbours: Sequence[Face]) -> np.ndarray:
    """Pixels nearer a neighbour's body than the member's: a body is the column under a face,
    distances in that face's widths (above the head counts as away)."""
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)

    def distance(face: Face) -> np.ndarray:
        across = (xs - face.centre[0]) / max(face.width, 1.0)
        above = np.maximum(0.0, face.box[1] - ys) / max(face.height, 1.0)
        return np.hypot(across, above)

    own = distance(member)
    theirs = np.zeros((SIDE, SIDE), bool)
    for neighbour in neighbours:
        theirs |= distance(neighbour) < own
    return theirs


def _holding(mask: np.ndarray, face: Face) -> np.ndarray | None:
    """The connected part of `mask` that covers most of `face`'s box (uint8 0/1), or None
    when none covers `MIN_PERSON` of it."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    x0, y0, x1, y1 = (int(np.clip(v, 0, SIDE - 1)) for v in face.box)
    in_face = labels[y0 : y1 + 1, x0 : x1 + 1]
    held = np.bincount(in_face.ravel(), minlength=count)[1:]
    if count < 2 or held.max(initial=0) < MIN_PERSON * in_face.size:
        return None
    return (labels == int(np.argmax(held)) + 1).astype(np.uint8)


def _overlaps(a: Face, b: Face) -> bool:
    """Whether two boxes share more than a third of the smaller one: the same face twice."""
    x0, y0 = max(a.box[0], b.box[0]), max(a.box[1], b.box[1])
    x1, y1 = min(a.box[2], b.box[2]), min(a.box[3], b.box[3])
    shared = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return shared > min(a.width * a.height, b.width * b.height) / 3


def _disc(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
