"""Edit after generation (issue 17, item 3): layers, re-compositing, the edit job, the form.

The layers round-trip through their Redis encoding; a cover re-composited from them matches
what `make_cover` drew with the same options, and a new title changes only the lettering;
an edit job runs no model stage (spies on every stage of the loaded pipeline) and edits the
cover's message; the form's answers are validated like `/albumify`'s options.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from typing import Any

import numpy as np
import pytest
from PIL import Image

from albumify import keys
from albumify.edits import EditOptions, parse_edit_form
from albumify.settings import Limits, Settings
from imaging.layers import CoverLayers, decode, encode, render
from imaging.layouts import Palette, PhotoFacts, compose_family
from tests import images
from tests.support.jobs import edit_job
from worker import job as job_module
from worker.discord_api import DiscordAPI
from worker.edit import EditTask, keep_layers, load_layers, reletter
from worker.pipeline import CoverOptions, Pipeline

TOKEN = "edit-token-secret"


def psnr(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


# -- the layers ---------------------------------------------------------------------------


def synthetic_layers(with_matte: bool = True) -> CoverLayers:
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:256, 0:256]
    art = np.stack([xs, ys, (xs + ys) // 2], -1).astype(np.uint8)
    py, px = np.mgrid[0:180, 0:240]
    smooth = np.stack([px, py, px // 2 + py // 2], -1) * 0.8 + 30
    photo = np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255).astype(np.uint8)
    alpha = None
    if with_matte:
        alpha = np.clip(1.2 - np.hypot(px - 120, py - 90) / 60, 0, 1).astype(np.float32)
    return CoverLayers(
        art=art,
        photo=photo,
        alpha=alpha,
        face_box=(100.0, 50.0, 140.0, 100.0) if with_matte else None,
        style={"font": "oswald", "layout": "bottom"},
        placement=(0.2, 0.3, 0.8, 1.0),
        facts=PhotoFacts(person=with_matte, whole_photo_ok=True, face_share=0.27),
        palette=Palette.of(art),
        family="cutout" if with_matte else "band",
        seed=1234,
        meta={"genre": "rock", "library_id": "starter:7", "lettering": ["A", "B"]},
    )


@pytest.mark.parametrize("with_matte", [True, False], ids=["person", "no-face"])
def test_layers_round_trip(with_matte: bool) -> None:
    layers = synthetic_layers(with_matte)
    fields = encode(layers)
    assert set(fields) == (
        {"art", "photo", "meta", "alpha"} if with_matte else {"art", "photo", "meta"}
    )
    assert fields["art"].startswith(b"\xff\xd8") and fields["photo"].startswith(b"\xff\xd8")
    back = decode({k.encode(): v for k, v in fields.items()})  # as Redis answers: bytes keys

    assert back.art.shape == layers.art.shape and back.art.dtype == np.uint8
    assert back.photo.shape == layers.photo.shape and back.photo.dtype == np.uint8
    assert psnr(back.art, layers.art) > 35 and psnr(back.photo, layers.photo) > 30
    if with_matte:
        assert back.alpha is not None and layers.alpha is not None
        assert back.alpha.shape == layers.alpha.shape and back.alpha.dtype == np.float32
        assert back.alpha.min() >= 0.0 and back.alpha.max() <= 1.0
        assert np.abs(back.alpha - layers.alpha).max() <= 0.5 / 255 + 1e-6  # 8 bits, rounded
        assert fields["alpha"].startswith(b"\x89PNG")
    else:
        assert back.alpha is None
    for name in ("face_box", "style", "placement", "facts", "palette", "family", "seed", "meta"):
        assert getattr(back, name) == getattr(layers, name), name
    back.art[0, 0] = 0  # decoded pixels are writable: a family may draw on them


def test_incomplete_or_foreign_layers_are_refused() -> None:
    fields = encode(synthetic_layers())
    with pytest.raises(ValueError):
        decode({"art": fields["art"], "meta": fields["meta"]})
    meta = json.loads(fields["meta"])
    meta["version"] = 99
    with pytest.raises(ValueError):
        decode({**fields, "meta": json.dumps(meta).encode()})


# -- re-compositing against make_cover ----------------------------------------------------


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load(backend="classic")


def stored(layers: CoverLayers, result: Any) -> CoverLayers:
    """Through the Redis encoding, with the meta the worker keeps."""
    layers.meta = {"genre": result.record.genre, "library_id": result.record.library_id}
    return decode(encode(layers))


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_an_edit_with_the_same_options_matches_the_cover(pipeline: Pipeline, seed: int) -> None:
    options = CoverOptions(title="Mission", artist="Collins", advisory=True, seed=seed)
    result = pipeline.make_cover(images.EXAMPLE, options)
    assert result.layers is not None and result.layers.family == result.layout
    layers = stored(result.layers, result)
    image, lettering = reletter(
        layers, edit_job(title="Mission", artist="Collins", advisory=True), Limits()
    )
    assert lettering == result.lettering == ("Collins", "Mission")
    assert image.size == result.image.size
    assert psnr(image, result.image) > 32, result.layout


def test_a_new_title_changes_only_the_lettering(pipeline: Pipeline) -> None:
    result = pipeline.make_cover(images.EXAMPLE, CoverOptions(title="Mission", seed=5))
    layers = stored(result.layers, result)
    same, _ = reletter(layers, edit_job(title="Mission"), Limits())
    new, lettering = reletter(layers, edit_job(title="Completely Different"), Limits())
    assert lettering is not None and lettering[1] == "Completely Different"
    bare = render(layers, None, False)
    block = compose_family(layers.family, layers.scene()).block
    x0, y0, x1, y1 = block.box
    pad = layers.art.shape[0] // 16  # type shadows reach a little past the block
    outside = np.ones(bare.size[::-1], bool)
    outside[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] = False
    a, b = np.asarray(same, np.int16), np.asarray(new, np.int16)
    assert np.abs(a - b)[outside].max() == 0  # nothing but the lettering moved
    assert np.abs(a - b)[~outside].max() > 50  # and the lettering did
    off, _ = reletter(layers, edit_job(lettering=False), Limits())
    assert psnr(off, bare) == 99.0  # lettering off: the composition alone


# -- the edit job -------------------------------------------------------------------------


class Spy:
    """Counts calls of a model stage and passes them on."""

    def __init__(self, inner: Any, counts: Counter, stage: str) -> None:
        self._inner, self._counts, self._stage = inner, counts, stage

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name == "detect":

            def detect(*args: Any, **kwargs: Any) -> Any:
                self._counts[self._stage] += 1
                return value(*args, **kwargs)

            return detect
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._counts[self._stage] += 1
        return self._inner(*args, **kwargs)


@pytest.fixture
def settings(fake_rest, redis_url) -> Settings:
    return Settings(discord_token="bot-token", redis_url=redis_url, api_base=fake_rest.api_base)


def test_an_edit_runs_no_model_and_edits_the_message(
    pipeline: Pipeline, settings, redis_sync, fake_rest, monkeypatch
) -> None:
    counts: Counter = Counter()
    stages = pipeline.stages
    spied = dataclasses.replace(
        stages,
        detector=Spy(stages.detector, counts, "faces"),
        embedder=Spy(stages.embedder, counts, "similarity"),
        segmenters=tuple(Spy(s, counts, "cutout") for s in stages.segmenters),
        stylers=tuple(Spy(s, counts, "face") for s in stages.stylers),
    )
    monkeypatch.setattr(pipeline, "stages", spied)
    result = pipeline.make_cover(images.EXAMPLE, CoverOptions(title="Before", seed=2))
    assert counts["faces"] and counts["similarity"] and counts["cutout"] and counts["face"]
    message = {"content": "<@30>'s album cover", "embeds": [{"description": "x"}]}
    stored_bytes = keep_layers(redis_sync, result, "r1", 600, message, "albumify.jpg", guild_id=10)
    assert stored_bytes > 0 and 0 < redis_sync.ttl(keys.layers(10, "r1")) <= 600
    redis_sync.hset(keys.reroll(10, "r1"), mapping={"title": "Before", "advisory": "0"})
    redis_sync.expire(keys.reroll(10, "r1"), 600)
    redis_sync.set(keys.token("albumify-edit-1"), TOKEN, ex=900)

    counts.clear()
    job_module.set_pipeline(pipeline)
    monkeypatch.setattr(Pipeline, "load", lambda *a, **k: pytest.fail("the edit loaded models"))
    api = DiscordAPI(settings.api_base, settings.discord_token)
    outcome = EditTask(
        edit_job(title="After", advisory=True), settings, redis_sync, None, api=api
    ).run()

    assert outcome["status"] == "edited", outcome
    assert sum(counts.values()) == 0, counts
    (edit,) = fake_rest.calls("PATCH", f"/webhooks/99/{TOKEN}/messages/@original")
    assert edit.payload["embeds"] == message["embeds"]
    assert "components" not in edit.payload and "content" not in edit.payload  # kept as they are
    name, data = edit.files["files[0]"][:2]
    assert name == "albumify.jpg" and Image.open(io.BytesIO(data)).size == (1024, 1024)
    assert redis_sync.hget(keys.reroll(10, "r1"), "title") == b"After"
    assert redis_sync.hget(keys.reroll(10, "r1"), "advisory") == b"1"
    assert 0 < redis_sync.ttl(keys.reroll(10, "r1")) <= 600  # an edit keeps the deadline
    layers = load_layers(redis_sync, 10, "r1")
    assert layers is not None and layers.meta["lettering"][1] == "After"


def test_an_edit_after_the_layers_expired_tells_the_member(settings, redis_sync, fake_rest) -> None:
    redis_sync.set(keys.token("albumify-edit-1"), TOKEN, ex=900)
    redis_sync.hset(keys.reroll(10, "r1"), mapping={"photo_hash": "abc"})
    redis_sync.set(keys.photo("abc"), b"jpeg", ex=600)
    api = DiscordAPI(settings.api_base, settings.discord_token)
    outcome = EditTask(edit_job(title="Late"), settings, redis_sync, None, api=api).run()
    assert outcome["status"] == "expired"
    assert fake_rest.calls("PATCH") == []
    (note,) = fake_rest.calls("POST", f"/webhooks/99/{TOKEN}")
    assert note.payload["flags"] == 64 and "layers are gone" in note.payload["content"]
    (row,) = note.payload["components"]
    assert [c["custom_id"] for c in row["components"]] == ["albumify:reroll:r1"]
    assert not redis_sync.exists(keys.layers(10, "r1"))  # nothing brought back


def test_deleting_a_result_takes_its_layers(redis_sync) -> None:
    from albumify.results import ResultRecord, discard_result, save_result

    record = ResultRecord(result_id="r9", guild_id=1, channel_id=2, requester_id=3,
                          photo_author_id=3, photo_hash="abc", title="T")  # fmt: skip
    save_result(redis_sync, record, reroll_ttl_s=600)
    redis_sync.hset(keys.layers(1, "r9"), mapping=encode(synthetic_layers()))
    discard_result(redis_sync, 1, "r9")
    assert not redis_sync.exists(keys.layers(1, "r9")) and not redis_sync.exists(
        keys.reroll(1, "r9")
    )


# -- the form -----------------------------------------------------------------------------


def test_the_form_is_validated_like_the_slash_command() -> None:
    limits = Limits(title_max_chars=10, artist_max_chars=5)
    assert parse_edit_form(
        {"artist": " Ada ", "title": "New  Dawn", "advisory": "Yes", "lettering": "on"}, limits
    ) == EditOptions(artist="Ada", title="New Dawn", advisory=True, lettering=True)
    assert parse_edit_form({"artist": "", "title": ""}, limits) == EditOptions(
        artist=None, title=None, advisory=False, lettering=True
    )
    assert "at most 10" in str(parse_edit_form({"title": "x" * 11}, limits))
    assert "at most 5" in str(parse_edit_form({"artist": "x" * 6}, limits))
    refusal = parse_edit_form({"advisory": "maybe"}, limits)
    assert isinstance(refusal, str) and "yes or no" in refusal and "maybe" in refusal
    assert parse_edit_form({"lettering": "NO"}, limits) == EditOptions(None, None, False, False)
