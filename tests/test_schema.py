"""The queue payloads round-trip through JSON and refuse other schema versions."""

from __future__ import annotations

import json

import pytest

from albumify.schema import CoverJob, CoverOutcome, PhotoRef, SchemaMismatch, job_id_for


def sample_job() -> CoverJob:
    return CoverJob(
        job_id=job_id_for(1234567890123456789),
        result_id="1234567890123456789",
        guild_id=1,
        channel_id=2,
        requester_id=3,
        photo_author_id=4,
        photo=PhotoRef(
            "SPOILER_a.png",
            url="https://cdn.discordapp.com/a",
            attachment_id=5,
            content_type="image/png",
            size=10,
            spoiler=True,
        ),
        title="타이틀",
        artist="Artist",
        advisory=True,
        seed=9,
        exclude=("x", "y"),
        application_id=6,
        token_expires_at=1.5,
        response_message_id=7,
        attachment_size_limit=8,
        requested_at=2.5,
    )


def test_job_round_trips_through_json():
    job = sample_job()
    assert CoverJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    assert "token" not in json.dumps(job.to_dict()).replace("token_expires_at", "")


def test_outcome_round_trips_through_json():
    outcome = CoverOutcome("posted", "r", 1, "lib", 0.5, 1.25, ["no face found: x"])
    assert CoverOutcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_other_schema_versions_are_refused():
    data = sample_job().to_dict() | {"schema_version": 99}
    with pytest.raises(SchemaMismatch):
        CoverJob.from_dict(data)


def test_job_ids_are_unique_per_request_and_kind():
    assert job_id_for(1) != job_id_for(2) != job_id_for(1, kind="reroll")


def test_request_identity_counts_every_look_option():
    """Two requests of one photo are the same only when nothing that changes the cover differs
    (issue 16: a new title made no new cover; issue 15 added lettering and the display name)."""
    from dataclasses import replace

    from albumify.schema import request_identity
    from bot.cover.intake import CoverRequest

    base = CoverRequest(
        request_id=1, guild_id=2, channel_id=3, requester_id=4, photo_author_id=4, image=None
    )
    same = replace(base, request_id=99)  # another interaction, the same request
    assert request_identity("a:1", base) == request_identity("a:1", same)
    assert request_identity("a:1", base) != request_identity("a:2", base)
    for change in (
        {"title": "New"},
        {"artist": "Someone"},
        {"advisory": True},
        {"lettering": False},
        {"display_name": "Nick"},
    ):
        assert request_identity("a:1", replace(base, **change)) != request_identity("a:1", base)
