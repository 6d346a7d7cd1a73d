"""Which face? The order faces are numbered in, picking face N, the numbered preview, the detect
job (real Redis, loopback REST) and the select's raw JSON. The end-to-end flow through the bot
is in tests/test_e2e_faces.py."""

from __future__ import annotations

import dataclasses
import io
import random
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from albumify import keys
from albumify.buttons import FACES_ID, result_buttons
from albumify.faces import MAX_FACES, FacesJob, face_select_row, picked_face
from albumify.schema import COVER_OPTIONS, CoverJob, PhotoRef, request_identity
from albumify.settings import Settings
from imaging.photo import encode_cover
from imaging.preview import badge_centre, numbered_faces
from models.blazeface import BlazeFaceDetector
from models.faces import Face, by_prominence, main_face
from tests import images, photos
from worker.detect import FacesTask
from worker.discord_api import DiscordAPI
from worker.pipeline import CoverOptions, NoSuchFace, Pipeline, pick_face

TOKEN = "faces-interaction-token"


def face_at(x0: float, y0: float, side: float) -> Face:
    return Face((x0, y0, x0 + side, y0 + side), np.zeros((5, 2), np.float32), 0.9)


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def poker_table() -> Image.Image:
    try:
        return photos.photo("poker-table")
    except photos.PhotoUnavailable as err:
        pytest.skip(str(err))


# -- ordering and picking --------------------------------------------------------------------


def test_faces_are_numbered_most_prominent_first_whatever_order_they_were_found_in() -> None:
    size = (1000, 800)
    big_centre, small_centre = face_at(420, 320, 160), face_at(460, 100, 60)
    big_corner, twin = face_at(0, 0, 160), face_at(840, 640, 160)  # equal prominence
    faces = [small_centre, big_corner, twin, big_centre]
    expected = [big_centre, big_corner, twin, small_centre]
    for seed in range(5):
        shuffled = faces[:]
        random.Random(seed).shuffle(shuffled)
        assert by_prominence(shuffled, size) == expected
    assert main_face(faces, size) is big_centre  # face 1 is today's default


def test_picking_a_face_counts_from_the_most_prominent_and_refuses_one_beyond() -> None:
    faces = [face_at(0, 0, 100), face_at(200, 0, 50)]
    assert pick_face(faces, 1) is faces[0] and pick_face(faces, 2) is faces[1]
    assert pick_face([], 1) is None  # no face: the photo itself becomes the art, as before
    with pytest.raises(NoSuchFace, match="I found 2 faces in this photo, so there is no face 3"):
        pick_face(faces, 3)
    with pytest.raises(NoSuchFace, match="no face in this photo"):
        pick_face([], 2)


def test_the_real_detector_numbers_a_group_photo_the_same_way_every_time(detector) -> None:
    table = poker_table()
    rgb = np.asarray(table)
    first = by_prominence(detector.detect(rgb), table.size)
    again = by_prominence(list(reversed(detector.detect(rgb))), table.size)
    assert len(first) >= 4  # six players at the table
    assert [f.box for f in first] == [f.box for f in again]
    # Face 1 is the subject a person would pick; the later ones are smaller or further out.
    centre = np.array(table.size) / 2
    first_distance = np.hypot(*(np.array(first[0].centre) - centre))
    assert all(
        f.width * f.height < first[0].width * first[0].height
        or np.hypot(*(np.array(f.centre) - centre)) > first_distance
        for f in first[1:]
    )


class RecordingCutout:
    """The pipeline's first cut-out backend, recording which face it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.faces = inner, inner.name, []

    def __call__(self, rgb: np.ndarray, face: Face, others: list[Face]) -> Any:
        self.faces.append((face, others))
        return self.inner(rgb, face, others)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load(backend="classic")


def test_the_cover_is_built_on_the_chosen_face(pipeline) -> None:
    group = images.group_photo()
    recorder = RecordingCutout(pipeline.stages.segmenters[0])
    pipeline.stages = dataclasses.replace(
        pipeline.stages, segmenters=(recorder, *pipeline.stages.segmenters[1:])
    )
    ordered = pipeline.faces(np.asarray(group))
    assert len(ordered) == 3
    png = images.encode(group, "PNG")

    default = pipeline.make_cover(png, CoverOptions(size=256))
    second = pipeline.make_cover(
        png, CoverOptions(size=256, face=2, keep_cover=default.record.library_id)
    )
    assert default.faces == second.faces == 3
    (first_face, _), (second_face, others) = recorder.faces
    assert first_face.box == ordered[0].box and second_face.box == ordered[1].box
    assert ordered[0].box in [f.box for f in others]  # face 1 is now a neighbour
    assert any("used face 2" in note for note in second.notes)
    assert any("most prominent" in note for note in default.notes)
    assert second.record.library_id == default.record.library_id  # the same cover kept

    other_photo = images.encode(images.gradient(300, 200), "PNG")
    elsewhere = pipeline.make_cover(other_photo, CoverOptions(size=256)).record.library_id
    assert elsewhere != default.record.library_id  # a photo that matches another cover…
    kept = pipeline.make_cover(png, CoverOptions(size=256, keep_cover=elsewhere))
    assert kept.record.library_id == elsewhere  # …whose cover the group photo can keep
    unknown = pipeline.make_cover(png, CoverOptions(size=256, keep_cover="not-in-the-library"))
    assert unknown.record.library_id == default.record.library_id  # searched as usual
    with pytest.raises(NoSuchFace, match="no face 4"):
        pipeline.make_cover(png, CoverOptions(size=256, face=4))


def test_face_is_a_cover_option_so_two_faces_are_two_requests() -> None:
    assert "face" in COVER_OPTIONS
    job = CoverJob("j", "r", 1, 2, 3, 3, PhotoRef("p.png", url="https://cdn/x"))
    assert request_identity("a", job) != request_identity("a", dataclasses.replace(job, face=2))
    assert CoverJob.from_dict(dataclasses.replace(job, face=2).to_dict()).face == 2


# -- the button, the select -------------------------------------------------------------------


def test_use_another_face_is_offered_only_for_several_faces() -> None:
    ids = [b["custom_id"] for b in result_buttons("r1", faces=2)]
    assert ids[-1] == FACES_ID.format(result_id="r1") and len(ids) == 5
    assert FACES_ID.format(result_id="r1") not in [
        b["custom_id"] for b in result_buttons("r1", faces=1)
    ]


def test_the_select_offers_face_1_to_n_with_the_current_one_marked() -> None:
    row = face_select_row("r1", 3, current=2)
    (select,) = row["components"]
    assert select["type"] == 3 and select["custom_id"] == "albumify:face:r1"
    assert [o["label"] for o in select["options"]] == ["Face 1", "Face 2", "Face 3"]
    assert [o["default"] for o in select["options"]] == [False, True, False]
    assert len(face_select_row("r1", 40, 1)["components"][0]["options"]) == MAX_FACES
    assert picked_face(["2"]) == 2
    assert picked_face(["0"]) is None and picked_face(["x"]) is None and picked_face([]) is None


# -- the preview --------------------------------------------------------------------------------


def test_the_preview_is_small_and_numbers_sit_on_the_faces() -> None:
    photo = images.gradient(1600, 1000)
    boxes = [(200.0, 300.0, 600.0, 700.0), (1000.0, 100.0, 1300.0, 400.0)]
    preview = numbered_faces(photo, boxes, current=1, side=640)
    assert preview.size == (640, 400)
    plain = np.asarray(photo.resize(preview.size, Image.Resampling.LANCZOS), np.int16)
    drawn = np.asarray(preview, np.int16)
    changed = np.abs(drawn - plain).sum(-1) > 60
    scale = 640 / 1600
    radius = max(9, round(640 / 40))
    badges = []
    for box in boxes:
        x, y = badge_centre(tuple(v * scale for v in box), radius, preview.size)
        patch = changed[int(y) - radius : int(y) + radius, int(x) - radius : int(x) + radius]
        assert patch.mean() > 0.5  # the number's badge is on the face's corner
        badges.append(drawn[int(y) - radius : int(y) + radius, int(x) - radius : int(x) + radius])
    # Face 1 (the current one) is green, face 2 white; the two digits differ.
    assert badges[0][..., 1].mean() > badges[0][..., 0].mean() + 40
    assert abs(badges[1][..., 0].mean() - badges[1][..., 1].mean()) < 30
    assert not changed[300:400, 20:60].any()  # far from every face: the photo untouched


# -- the detect job ---------------------------------------------------------------------------


@pytest.fixture
def settings(fake_rest, redis_url) -> Settings:
    return Settings(discord_token="bot-token", redis_url=redis_url, api_base=fake_rest.api_base)


def detect_only(detector: BlazeFaceDetector) -> Any:
    """The worker's pipeline as the detect job uses it (`Pipeline.faces`), without loading
    the library: the real detector and the real ordering."""
    stand_in = SimpleNamespace(stages=SimpleNamespace(detector=detector))
    stand_in.faces = lambda rgb: Pipeline.faces(stand_in, rgb)  # type: ignore[arg-type]
    return stand_in


def run_detect(settings, redis_sync, detector, image: Image.Image | None, **fields: Any):
    digest = "f" * 64
    if image is None:  # the kept photo expired
        redis_sync.delete(keys.photo(digest))
    else:
        redis_sync.set(keys.photo(digest), encode_cover(image, "jpeg"), ex=600)
    job = FacesJob(
        job_id="albumify-faces-1",
        result_id="r7",
        guild_id=1,
        requester_id=5,
        photo_hash=digest,
        application_id=99,
        **fields,
    )
    redis_sync.set(keys.token(job.job_id), TOKEN, ex=600)
    api = DiscordAPI(settings.api_base, settings.discord_token)
    return FacesTask(job, settings, redis_sync, api=api, pipeline=detect_only(detector)).run()


def test_the_detect_job_posts_the_numbered_preview_and_a_select(
    fake_rest, settings, redis_sync, detector
) -> None:
    table = poker_table()
    found = len(detector.detect(np.asarray(table)))
    outcome = run_detect(settings, redis_sync, detector, table, current_face=2, spoiler=True)
    assert outcome == {"status": "preview", "faces": found}
    (edit,) = fake_rest.calls("PATCH", f"/webhooks/99/{TOKEN}/messages/@original")
    name, data = edit.files["files[0]"][:2]
    assert name == "SPOILER_faces.jpg"
    preview = Image.open(io.BytesIO(data))
    assert max(preview.size) == 640 and preview.format == "JPEG"
    (select,) = edit.payload["components"][0]["components"]
    assert select["custom_id"] == "albumify:face:r7"
    assert [o["value"] for o in select["options"]] == [str(n) for n in range(1, found + 1)]
    assert [o["value"] for o in select["options"] if o["default"]] == ["2"]
    assert f"I found {found} faces" in edit.payload["content"]
    assert edit.payload["allowed_mentions"] == {"parse": []}


def test_the_detect_job_says_plainly_when_there_is_nothing_to_choose(
    fake_rest, settings, redis_sync, detector
) -> None:
    assert run_detect(settings, redis_sync, detector, images.astronaut())["status"] == "few"
    assert run_detect(settings, redis_sync, detector, None)["status"] == "gone"
    one, gone = fake_rest.calls("PATCH", "/messages/@original")
    assert "only one face" in one.payload["content"] and one.payload["components"] == []
    assert "this one is gone" in gone.payload["content"] and not gone.files


def test_the_detect_job_without_a_live_token_posts_nothing(
    fake_rest, settings, redis_sync, detector
) -> None:
    redis_sync.set(keys.photo("f" * 64), encode_cover(images.group_photo(), "jpeg"))
    job = FacesJob("albumify-faces-2", "r7", 1, 5, "f" * 64, 99)
    task = FacesTask(job, settings, redis_sync, pipeline=detect_only(detector))
    assert task.run() == {"status": "unanswerable"}
    assert fake_rest.calls("PATCH") == []


def test_the_chosen_face_is_kept_for_re_rolls_and_said_on_the_cover() -> None:
    from albumify.results import ResultRecord
    from worker.message import made_as

    record = ResultRecord("r1", 1, 2, 3, 3, photo_hash="h", face=2, shown=("a", "b"))
    back = ResultRecord.from_mapping("r1", record.mapping(), record.reroll_mapping())
    assert back.face == 2  # a re-roll of this cover builds on face 2 again
    old = {k: v for k, v in record.reroll_mapping().items() if k != "face"}
    assert ResultRecord.from_mapping("r1", record.mapping(), old).face == 1  # older records

    job = CoverJob("j", "r", 1, 2, 3, 3, PhotoRef("p.png", photo_hash="h"))
    assert made_as(job) == ""
    assert made_as(dataclasses.replace(job, rerolled_from="r0")) == " (re-roll)"
    picked = dataclasses.replace(job, rerolled_from="r0", face=2, picked_face=True)
    assert made_as(picked) == " (face 2)"
    assert made_as(dataclasses.replace(picked, picked_face=False)) == " (re-roll, face 2)"
