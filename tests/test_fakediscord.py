"""The loopback Discord itself: the bot's per-channel permissions and Discord's refusals, DMs,
and `nonce` + `enforce_nonce`. Plain HTTP against the server, no bot: what it answers is what
the bot and the worker meet in the other tests."""

from __future__ import annotations

import json
import time

import pytest
import requests

from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.model import (
    ATTACH_FILES,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)
from tests.support.bare_discord import BOT, bare_discord

discord = bare_discord()


def post(discord: FakeDiscord, channel_id: int, payload: dict, files: bool = False):
    url = f"{discord.api_base}/channels/{channel_id}/messages"
    if not files:
        return requests.post(url, json=payload, headers=BOT, timeout=10)
    parts = {
        "payload_json": (None, json.dumps(payload), "application/json"),
        "files[0]": ("a.png", b"\x89PNG....", "image/png"),
    }
    return requests.post(url, files=parts, headers=BOT, timeout=10)


def refusal(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json().get("code")


def test_the_bot_may_do_everything_by_default(discord: FakeDiscord) -> None:
    alice = discord.add_member("alice")
    theirs = discord.post_message(alice, "hi")
    reply = {"content": "x", "embeds": [{"description": "d"}]}
    reply["message_reference"] = {"message_id": theirs.id, "channel_id": discord.channel_id}
    assert post(discord, discord.channel_id, reply, files=True).status_code == 200
    fetched = requests.get(
        f"{discord.api_base}/channels/{discord.channel_id}/messages/{theirs.id}",
        headers=BOT,
        timeout=10,
    )
    assert fetched.status_code == 200


@pytest.mark.parametrize(
    ("denied", "payload", "files", "expected"),
    [
        pytest.param(VIEW_CHANNEL, {"content": "x"}, False, (403, 50001), id="view"),
        pytest.param(SEND_MESSAGES, {"content": "x"}, False, (403, 50013), id="send"),
        pytest.param(ATTACH_FILES, {"content": "x"}, True, (403, 50013), id="attach"),
        pytest.param(EMBED_LINKS, {"embeds": [{"title": "t"}]}, False, (403, 50013), id="embed"),
    ],
)
def test_a_post_the_bot_may_not_make_is_refused_with_discords_code(
    discord: FakeDiscord, denied: int, payload: dict, files: bool, expected: tuple[int, int]
) -> None:
    discord.set_bot_permissions(deny=denied)
    assert refusal(post(discord, discord.channel_id, payload, files)) == expected
    assert discord.channel() == []
    if denied != VIEW_CHANNEL and denied != SEND_MESSAGES:  # a plain text still goes through
        assert post(discord, discord.channel_id, {"content": "plain"}).status_code == 200
    discord.set_bot_permissions()  # given back
    assert post(discord, discord.channel_id, payload, files).status_code == 200


def test_read_message_history_gates_fetching_and_replying(discord: FakeDiscord) -> None:
    alice = discord.add_member("alice")
    theirs = discord.post_message(alice, "photo")
    discord.set_bot_permissions(deny=READ_MESSAGE_HISTORY)
    url = f"{discord.api_base}/channels/{discord.channel_id}/messages/{theirs.id}"
    assert refusal(requests.get(url, headers=BOT, timeout=10)) == (403, 50001)
    reply = {"content": "x", "message_reference": {"message_id": theirs.id}}
    assert refusal(post(discord, discord.channel_id, reply)) == (400, 160002)
    assert post(discord, discord.channel_id, {"content": "x"}).status_code == 200


def test_deleting_someone_elses_message_needs_manage_messages(discord: FakeDiscord) -> None:
    alice = discord.add_member("alice")
    theirs = discord.post_message(alice, "hi")
    own = post(discord, discord.channel_id, {"content": "mine"}).json()
    base = f"{discord.api_base}/channels/{discord.channel_id}/messages"
    assert refusal(requests.delete(f"{base}/{theirs.id}", headers=BOT, timeout=10)) == (
        403,
        50013,
    )
    assert requests.delete(f"{base}/{own['id']}", headers=BOT, timeout=10).status_code == 204
    discord.set_bot_permissions(allow=MANAGE_MESSAGES)
    assert requests.delete(f"{base}/{theirs.id}", headers=BOT, timeout=10).status_code == 204
    again = post(discord, discord.channel_id, {"content": "mine"}).json()
    discord.set_bot_permissions(deny=VIEW_CHANNEL)  # even its own message, once shut out
    assert refusal(requests.delete(f"{base}/{again['id']}", headers=BOT, timeout=10)) == (
        403,
        50001,
    )


def test_interactions_and_their_webhooks_work_where_the_bot_cannot_see(
    discord: FakeDiscord,
) -> None:
    alice = discord.add_member("alice")
    discord.set_bot_permissions(deny=VIEW_CHANNEL)
    interaction = discord.deferred(alice)
    assert int(interaction.payload["app_permissions"]) & VIEW_CHANNEL == 0
    webhook = f"{discord.api_base}/webhooks/{discord.application_id}/{interaction.token}"
    edited = requests.patch(f"{webhook}/messages/@original", json={"content": "done"}, timeout=10)
    assert edited.status_code == 200
    assert discord.response_to(interaction).content == "done"
    followup = requests.post(webhook, json={"content": "more", "flags": 64}, timeout=10)
    assert followup.status_code == 200
    assert [m.content for m in discord.answers_to(interaction)] == ["done", "more"]
    deleted = requests.delete(f"{webhook}/messages/@original", timeout=10)
    assert deleted.status_code == 204 and discord.response_to(interaction).deleted
    assert [m.content for m in discord.answers_to(interaction)] == ["more"]


def test_direct_messages_and_members_who_closed_them(discord: FakeDiscord) -> None:
    alice, bob = discord.add_member("alice"), discord.add_member("bob")
    bob.accepts_dms = False
    delivered = {}
    for member in (alice, bob):
        channel = requests.post(
            f"{discord.api_base}/users/@me/channels",
            json={"recipient_id": str(member.id)},
            headers=BOT,
            timeout=10,
        ).json()
        assert channel["type"] == 1 and channel["recipients"][0]["id"] == str(member.id)
        delivered[member.username] = post(discord, int(channel["id"]), {"content": "psst"})
    assert delivered["alice"].status_code == 200
    assert [m.content for m in discord.dms(alice)] == ["psst"]
    assert refusal(delivered["bob"]) == (403, 50007)
    assert discord.dms(bob) == []


def test_enforce_nonce_returns_the_first_message_within_the_window(
    discord: FakeDiscord,
) -> None:
    payload = {"content": "cover", "nonce": "job-1-cover", "enforce_nonce": True}
    first = post(discord, discord.channel_id, payload).json()
    again = post(discord, discord.channel_id, payload).json()
    assert again["id"] == first["id"] and len(discord.channel()) == 1
    # Without enforce_nonce, or once the window has passed, a nonce dedupes nothing.
    post(discord, discord.channel_id, {**payload, "enforce_nonce": False})
    discord.nonce_window_s = 0
    later = post(discord, discord.channel_id, payload).json()
    assert later["id"] != first["id"] and len(discord.channel()) == 3


def test_a_string_select_sends_only_the_values_it_offers(
    discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    from albumify.faces import face_select_row

    sent: list = []
    monkeypatch.setattr(discord, "send", lambda *interactions: sent.extend(interactions) or sent)

    row = face_select_row("r1", 3, current=1)
    button = {"type": 2, "style": 2, "label": "x", "custom_id": "albumify:reroll:r1"}
    answer = post(discord, discord.channel_id, {"content": "pick", "components": [row]})
    posted = post(
        discord,
        discord.channel_id,
        {"content": "b", "components": [{"type": 1, "components": [button]}]},
    )
    message = discord.messages[int(answer.json()["id"])]
    member = discord.add_member("ida")

    chosen = discord.choose(member, message, "albumify:face:r1", ["2"])
    assert chosen.type == 3 and chosen.source_message_id == message.id
    assert chosen.payload["data"] == {
        "custom_id": "albumify:face:r1",
        "component_type": 3,
        "values": ["2"],
    }
    assert chosen.payload["message"]["components"] == [row]
    assert sent == [chosen]  # dispatched once: the refused choices below never go out
    with pytest.raises(ValueError):
        discord.choose(member, message, "albumify:face:r1", ["4"])  # not offered
    with pytest.raises(ValueError):
        discord.choose(member, message, "albumify:face:r1", ["1", "2"])  # max_values is 1
    with pytest.raises(LookupError):
        discord.choose(member, message, "albumify:face:r2", ["1"])
    with pytest.raises(LookupError):  # a button is clicked, not chosen in
        discord.choose(member, discord.messages[int(posted.json()["id"])], button["custom_id"], [])
    assert sent == [chosen]


def test_an_age_restricted_channel_says_nsfw_everywhere_the_bot_reads_it(
    discord: FakeDiscord,
) -> None:
    def fetched() -> dict:
        url = f"{discord.api_base}/channels/{discord.channel_id}"
        response = requests.get(url, headers=BOT, timeout=10)
        assert response.status_code == 200
        return response.json()

    alice = discord.add_member("alice")
    assert fetched()["nsfw"] is False
    assert discord.deferred(alice).payload["channel"]["nsfw"] is False

    discord.set_age_restricted()
    assert fetched()["nsfw"] is True
    assert [c["nsfw"] for c in discord.channel_payloads()] == [True]  # GUILD_CREATE's channels
    assert discord.deferred(alice).payload["channel"]["nsfw"] is True  # INTERACTION_CREATE's

    discord.reset()  # a fresh conversation starts in a channel that is not age-restricted
    assert fetched()["nsfw"] is False


@pytest.fixture
def no_gateway(discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    """Interactions are recorded as sent (no bot is connected to receive them)."""

    def send(*interactions):
        for interaction in interactions:
            interaction.sent_at = time.monotonic()
        return list(interactions)

    monkeypatch.setattr(discord, "send", send)
    return discord


def callback(discord: FakeDiscord, interaction, body: dict) -> requests.Response:
    url = f"{discord.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
    return requests.post(url, params={"with_response": "1"}, json=body, timeout=10)


def test_a_form_opens_from_a_button_and_its_submit_updates_that_message(
    no_gateway: FakeDiscord,
) -> None:
    discord = no_gateway
    alice = discord.add_member("alice")
    button = {"type": 2, "style": 2, "label": "Edit", "custom_id": "edit:1"}
    sent = post(discord, discord.channel_id, {"content": "cover", "components": [
        {"type": 1, "components": [button]}
    ]})  # fmt: skip
    message = discord.messages[int(sent.json()["id"])]
    click = discord.click(alice, message, "edit:1")
    text = {"type": 4, "custom_id": "title", "label": "Title", "style": 1, "value": "Old"}
    form = {"custom_id": "form:1", "title": "Edit", "components": [
        {"type": 1, "components": [text]}
    ]}  # fmt: skip
    assert callback(discord, click, {"type": 9, "data": form}).status_code == 200
    assert click.modal == form

    kept = discord.submit_form(click)  # nothing typed: the pre-filled value comes back
    assert kept.type == 5 and kept.payload["message"]["id"] == str(message.id)
    (row,) = kept.payload["data"]["components"]
    assert row["components"] == [{"type": 4, "custom_id": "title", "value": "Old"}]
    submit = discord.submit_form(click, {"title": "New"})
    assert submit.payload["data"]["custom_id"] == "form:1"
    assert submit.payload["data"]["components"][0]["components"][0]["value"] == "New"
    with pytest.raises(LookupError):
        discord.submit_form(click, {"artist": "nobody asked"})

    assert callback(discord, submit, {"type": 6}).status_code == 200  # a deferred update
    webhook = f"{discord.api_base}/webhooks/{discord.application_id}/{submit.token}"
    edited = requests.patch(f"{webhook}/messages/@original", json={"content": "new"}, timeout=10)
    assert edited.status_code == 200 and message.content == "new"
    assert discord.protocol_errors == []


def test_forms_discord_would_refuse_are_protocol_errors(no_gateway: FakeDiscord) -> None:
    discord = no_gateway
    alice = discord.add_member("alice")
    button = {"type": 2, "style": 2, "label": "Edit", "custom_id": "edit:2"}
    sent = post(discord, discord.channel_id, {"content": "c", "components": [
        {"type": 1, "components": [button]}
    ]})  # fmt: skip
    message = discord.messages[int(sent.json()["id"])]
    untitled = discord.click(alice, message, "edit:2")
    assert callback(discord, untitled, {"type": 9, "data": {"custom_id": "f"}}).status_code == 400
    assert untitled.modal is None
    with pytest.raises(LookupError):
        discord.submit_form(untitled)
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": f"t{n}"}]} for n in range(6)]
    crowded = discord.click(alice, message, "edit:2")
    form = {"custom_id": "f", "title": "T", "components": rows}
    assert callback(discord, crowded, {"type": 9, "data": form}).status_code == 400
    assert len(discord.protocol_errors) == 2
