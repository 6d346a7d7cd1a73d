"""Nobody gets in: secrets stay out of logs, buttons check who presses them, re-rolls count
against the member's quota, and weights files cannot run code. (Downloads outside the CDN
and size caps are proven through a real worker in test_faults_corpus; pickled job payloads
in test_faults_worker.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord
import pytest
import redis.asyncio as aioredis
import torch

from albumify import keys
from albumify.errors import MissingAsset
from albumify.results import ResultStore
from albumify.schema import PhotoRef
from albumify.settings import Limits, Settings
from bot.cover.cog import Covers
from bot.cover.intake import CoverRequest, Intake
from bot.utils.images import ImageCandidate
from devtools.fakediscord.rest import ScriptedReply
from models.psp.checkpoint import CheckpointError, read_checkpoint
from models.weights import PSP_FFHQ, RESNET50
from tests.support import fake_pipeline
from tests.support.jobs import cover_job
from tests.support.processes import bot_queue
from worker.job import CoverTask

TOKEN = "Tok3n-interaction-SECRET-abcdef"
BOT_TOKEN = "MTIz.bot-token-SECRET"


# -- secrets never reach a log ------------------------------------------------------------------


def test_a_full_job_logs_neither_tokens_nor_webhook_paths(fake_rest, redis_url, redis_sync, caplog):
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    fake_pipeline.install()
    settings = Settings(
        discord_token=BOT_TOKEN,
        redis_url=redis_url,
        api_base=fake_rest.api_base,
        cdn_hosts=("127.0.0.1",),
        cdn_hosts_explicit=True,
    )
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    job = cover_job(
        url, job_id="albumify-cover-31337", result_id="r31337", requested_at=0.0,
        photo=PhotoRef(filename="me.png", url=url, attachment_id=5),
    )  # fmt: skip
    redis_sync.set(keys.token(job.job_id), TOKEN, ex=900)
    # The webhook fails once (a 404 → the channel path with the bot token), so both secrets
    # are used on the wire during the job.
    fake_rest.script("PATCH", "/webhooks/99/", ScriptedReply(500, {}), ScriptedReply(404, {}))
    CoverTask(job, settings, redis_sync, None).run()

    assert fake_rest.calls("PATCH", f"/webhooks/99/{TOKEN}/")  # the token was really used
    assert fake_rest.calls("POST", "/channels/20/")[0].headers["Authorization"].endswith(BOT_TOKEN)
    text = (
        "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
        + caplog.text
    )
    assert any("/webhooks/99/<token>" in r.getMessage() for r in caplog.records)  # logged, masked
    assert TOKEN not in text
    assert BOT_TOKEN not in text
    assert "/webhooks/99/Tok3n" not in text


# -- buttons check who presses them --------------------------------------------------------------


class Response:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.deferred = False

    async def send_message(self, content: str | None = None, **kwargs: Any) -> None:
        assert kwargs.get("ephemeral")
        self.sent.append(content or "")

    async def defer(self, **kwargs: Any) -> None:
        self.deferred = True


class Message:
    """The button's message: the click's original response, deleted through its webhook."""

    def __init__(self) -> None:
        self.deleted = False

    async def delete(self) -> None:
        self.deleted = True


class Followup:
    """Answers after the acknowledgement; refusals must be private (ephemeral)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, content: str, **kwargs: Any) -> None:
        assert kwargs.get("ephemeral")
        self.sent.append(content)


REQUESTER, AUTHOR, MODERATOR, STRANGER = 301, 302, 303, 304


def interaction(cog: Covers, user_id: int, *, manage_messages: bool = False) -> Any:
    message = Message()
    pressed = SimpleNamespace(
        id=int(time.time() * 1000) + user_id,
        user=SimpleNamespace(id=user_id),
        guild_id=1,
        channel_id=2,
        channel=None,  # not cached: not age-restricted
        application_id=77,
        token="button-token",
        created_at=datetime.now(UTC),
        filesize_limit=8 * 1024 * 1024,
        permissions=discord.Permissions(manage_messages=manage_messages),
        app_permissions=discord.Permissions.text(),
        message=message,
        response=Response(),
        followup=Followup(),
        original_deleted=[],
        client=cog.bot,
    )

    async def delete_original_response() -> None:
        """A click's original response: the button's message, or the deferred reply of a
        click answered with thinking=True (a re-roll)."""
        pressed.original_deleted.append(True)
        await message.delete()

    pressed.delete_original_response = delete_original_response
    return pressed


def run_cog(redis_url: str, redis_sync, scenario, limits: Limits | None = None):
    async def main():
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        settings = Settings(redis_url=redis_url, limits=limits or Limits())
        intake = Intake(client, bot_queue(redis_sync, settings), settings)
        bot = SimpleNamespace(
            intake=intake, settings=settings, redis=client, results=ResultStore(client)
        )
        cog = Covers(bot)
        try:
            return await scenario(cog, intake, client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def store_result(client, result_id: str = "555") -> None:
    await client.hset(
        keys.result(1, result_id),
        mapping={
            "guild": "1",
            "channel": "2",
            "message": "9",
            "requester": str(REQUESTER),
            "photo_author": str(AUTHOR),
            "library_ids": '["lib-1"]',
            "photo_hash": "abc",
            "seed": "1",
        },
    )
    await client.set(keys.photo("abc"), b"photo", ex=600)


@pytest.mark.parametrize(
    ("user", "manage", "allowed"),
    [
        (STRANGER, False, False),
        (REQUESTER, False, True),
        (AUTHOR, False, True),
        (MODERATOR, True, True),
    ],
)
def test_delete_is_for_requester_author_and_moderators(
    redis_url, redis_sync, user, manage, allowed
):
    async def scenario(cog, intake, client):
        await store_result(client)
        pressed = interaction(cog, user, manage_messages=manage)
        await cog.delete(pressed, "555")
        return pressed, await client.exists(keys.result(1, "555"))

    pressed, still_there = run_cog(redis_url, redis_sync, scenario)
    assert pressed.message.deleted is allowed
    assert bool(still_there) is not allowed
    if not allowed:
        assert "Only the person who asked" in pressed.response.sent[0]
    else:
        assert pressed.response.deferred and pressed.followup.sent == ["Deleted."]


@pytest.mark.parametrize("user", [STRANGER, MODERATOR])
def test_reroll_is_refused_to_others(redis_url, redis_sync, user):
    async def scenario(cog, intake, client):
        await store_result(client)
        pressed = interaction(cog, user, manage_messages=user == MODERATOR)
        await cog.reroll(pressed, "555")
        return pressed

    pressed = run_cog(redis_url, redis_sync, scenario)
    # Acknowledged first (the record is in Redis), then refused privately.
    assert pressed.response.deferred and pressed.original_deleted == [True]
    assert pressed.followup.sent == ["Only the person who asked for this cover can re-roll it."]
    assert bot_queue(redis_sync, Settings()).count == 0


def test_rerolls_count_against_the_member_quota(redis_url, redis_sync):
    """Quota 2: one cover + one re-roll use it up; neither path gets around the other."""
    limits = Limits(member_quota=2)

    async def scenario(cog, intake, client):
        request = CoverRequest(
            request_id=4242,
            guild_id=1,
            channel_id=2,
            requester_id=REQUESTER,
            photo_author_id=REQUESTER,
            image=ImageCandidate(
                "https://cdn.discordapp.com/attachments/1/2/me.png", "me.png", "image/png", 10, 2
            ),
        )
        assert (await intake.admit(request)).ok
        await store_result(client)
        first = interaction(cog, REQUESTER)
        await cog.reroll(first, "555")  # admitted: counts as the second request
        second = interaction(cog, REQUESTER)
        await cog.reroll(second, "555")  # over the quota
        other_photo = ImageCandidate(request.image.url, "b.png", "image/png", 1, 3)
        third = dataclasses.replace(request, request_id=4243, image=other_photo)
        return first, second, await intake.admit(third)

    first, second, fresh = run_cog(redis_url, redis_sync, scenario, limits)
    assert first.response.deferred and first.followup.sent == []
    assert first.original_deleted == []
    assert second.original_deleted == [True]
    assert "covers in the last" in second.followup.sent[0]
    assert not fresh.ok and "covers in the last" in (fresh.message or "")


# -- weights cannot run code ---------------------------------------------------------------------


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_psp_checkpoint_with_a_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "psp-pwned"
    path = tmp_path / PSP_FFHQ
    torch.save(
        {"state_dict": {}, "latent_avg": torch.zeros(18, 512), "opts": Exploit(str(marker))}, path
    )
    with pytest.raises(CheckpointError, match="weights-only"):
        read_checkpoint(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # what an unsafe loader would have done
    assert marker.exists()


def test_resnet_weights_with_a_pickled_object_are_refused_without_running_them(tmp_path):
    from models.embedder import ResNetEmbedder

    marker = tmp_path / "resnet-pwned"
    torch.save({"conv1.weight": Exploit(str(marker))}, tmp_path / RESNET50)
    with pytest.raises(MissingAsset, match="not a torchvision ResNet50 state dict"):
        ResNetEmbedder.load(tmp_path, "cpu")
    assert not marker.exists()


def test_the_bot_masks_interaction_tokens_in_discord_py_debug_lines(redis_url, caplog):
    from bot.client import AlbumifyBot

    caplog.set_level(logging.DEBUG)
    AlbumifyBot(Settings(redis_url=redis_url, discord_token=BOT_TOKEN))
    http = logging.getLogger("discord.http")
    base = "https://discord.com/api/v10"
    http.debug(
        "%s %s with %s has returned %s",
        "POST",
        f"{base}/interactions/1/{TOKEN}/callback",
        None,
        200,
    )
    http.debug(
        "%s %s has received %s", "PATCH", f"{base}/webhooks/77/{TOKEN}/messages/@original", {}
    )
    http.debug("token %s", BOT_TOKEN)
    # discord.py logs every gateway event's payload at DEBUG: INTERACTION_CREATE has the token.
    event = {"op": 0, "t": "INTERACTION_CREATE", "d": {"id": "1", "token": TOKEN, "type": 2}}
    logging.getLogger("discord.gateway").debug("For Shard ID %s: WebSocket Event: %s", None, event)
    discord_token = "aW50ZXJhY3Rpb246MTIzOjQ1NjpzZWNyZXQ"  # Discord's: base64 "interaction:…"
    logging.getLogger("discord.client").debug("something about %s", discord_token)
    assert "/interactions/1/<token>/callback" in caplog.text
    assert "/webhooks/77/<token>/messages/@original" in caplog.text
    assert "'token': '<token>'" in caplog.text and "INTERACTION_CREATE" in caplog.text
    assert TOKEN not in caplog.text and BOT_TOKEN not in caplog.text
    assert discord_token not in caplog.text


# -- size caps apply before the body is read ----------------------------------------------------


class StallingCDN:
    """Answers with headers (a huge Content-Length or chunked) and then never sends a body."""

    def __init__(self, headers: bytes) -> None:
        import socket
        import threading

        self.headers = headers
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while True:
                connection, _ = self.server.accept()
                connection.recv(65536)
                connection.sendall(self.headers)
                self.connections.append(connection)  # held open: the body never comes
        except OSError:
            return

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
        self.server.close()


def test_declared_size_over_the_cap_is_refused_before_reading_the_body():
    from albumify.errors import BadInput
    from worker.download import DownloadFailed, fetch_photo

    cdn = StallingCDN(
        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 104857600\r\n\r\n"
    )
    settings = Settings(
        cdn_hosts=("127.0.0.1",),
        cdn_hosts_explicit=True,
        limits=Limits(max_download_bytes=1024 * 1024, download_timeout_s=3),
    )
    try:
        # Reading even one byte of this body would block until the timeout (DownloadFailed).
        with pytest.raises(BadInput, match="too large"):
            try:
                fetch_photo(f"http://127.0.0.1:{cdn.port}/attachments/1/2/big.png", settings)
            except DownloadFailed as err:
                pytest.fail(f"the body was read: {err}")
    finally:
        cdn.close()
