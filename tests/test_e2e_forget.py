"""End to end: `/albumify-forget` in the bot's DMs, through the real processes (issue 16, 4).

A member has a cover with a title, a cover another member made of her photo, a vote, and a
request waiting in the queue; she left every server, so she uses `/albumify-forget` in her
DMs with the bot. Afterwards Redis holds nothing of hers but the ids her posted covers' Delete
buttons need (and, for a few minutes, that she asked); her waiting request says it was
cancelled; and she can still delete her cover.
"""

from __future__ import annotations

import hashlib

from albumify import keys
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, module_stack
from tests.test_e2e import assert_cover, faceless, wait_final

pytestmark = MARKS
stack = module_stack()


def values(client, key: str) -> str:
    kind = client.type(key).decode()
    read = {
        "string": client.get,
        "hash": client.hgetall,
        "set": client.smembers,
        "zset": lambda k: client.zrange(k, 0, -1),
        "list": lambda k: client.lrange(k, 0, -1),
    }.get(kind, lambda k: b"")
    return repr(read(key))


def test_forget_in_dms_keeps_only_ids_and_delete_still_works(stack: Stack) -> None:
    fake = stack.fake
    mona, otto = fake.add_member("mona"), fake.add_member("otto")
    client = stack.redis()
    client.hset(keys.guild_settings(fake.guild_id), "allow_others", "1")
    photos = [faceless(50), faceless(51), faceless(53)]

    mine = wait_final(
        stack,
        fake.slash(
            "albumify", mona, {"image": fake.upload("m.png", photos[0]), "title": "Private Title"}
        ),
    )
    mine_id = assert_cover(fake, mine, mona)
    post = fake.post_message(mona, "me!", attachments=[fake.upload("m2.png", photos[1])])
    assert_cover(fake, wait_final(stack, fake.context_menu("Albumify", otto, post)), otto)
    ottos = wait_final(
        stack, fake.slash("albumify", otto, {"image": fake.upload("o.png", faceless(52))})
    )
    ottos_id = assert_cover(fake, ottos, otto)
    vote = fake.click(mona, ottos, f"albumify:vote:{ottos_id}")
    fake.wait_until(lambda: vote.acknowledged, "the vote")
    stack.stop_process("worker")  # her next request waits in the queue
    waiting = fake.slash(
        "albumify", mona, {"image": fake.upload("w.png", photos[2]), "title": "Private Title"}
    )
    fake.wait_until(lambda: client.llen("rq:queue:albumify") == 1, "the queued request")

    ask = fake.slash("albumify-forget", mona, dm=True)  # a global command, offered in DMs
    prompt = fake.wait_until(lambda: fake.response_to(ask), "the confirmation prompt", 10)
    assert prompt.ephemeral and prompt.guild_id is None and "every server" in prompt.content
    (confirm,) = [
        c["custom_id"]
        for row in prompt.components
        for c in row["components"]
        if c.get("label") == "Forget me"
    ]
    fake.click(mona, prompt, confirm)
    fake.wait_until(lambda: prompt.content.startswith("Done"), "the confirmation", 30)
    text = prompt.content
    assert "in 1 server" in text and "2 covers of you or your photos" in text, text
    assert "1 vote taken back" in text and "3 requests removed" in text, text
    assert "only its ids" in text and "no title, artist or photo" in text, text
    assert not prompt.components

    cancelled = fake.wait_until(lambda: fake.response_to(waiting), "the waiting request")
    fake.wait_until(lambda: "cancelled" in cancelled.content, "the cancelled notice", 10)
    assert client.llen("rq:queue:albumify") == 0

    # Redis: nothing of hers beyond the ids of her two posted covers and the marker.
    leaks = {}
    digests = [hashlib.sha256(photo).hexdigest() for photo in photos]
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        dump = values(client, key)
        if any(s in key or s in dump for s in (str(mona.id), "Private Title", *digests)):
            leaks[key] = dump
    kept = {key for key in leaks if ":result:" in key}
    assert len(kept) == 2 and set(leaks) - kept == {keys.forgotten(fake.guild_id, mona.id)}
    for key in kept:
        assert set(client.hkeys(key)) == {
            b"guild",
            b"channel",
            b"message",
            b"requester",
            b"photo_author",
        }
    assert not any(client.exists(keys.photo(digest)) for digest in digests)
    otto_job = f"rq:job:albumify-cover-{ottos_id}".encode()  # otto's own: not hers
    assert list(client.scan_iter("rq:job:*")) == [otto_job]

    # Her cover is still up, and its Delete button still works for her.
    delete = fake.click(mona, mine, f"albumify:delete:{mine_id}")
    fake.wait_until(lambda: mine.deleted and delete.acknowledged, "the delete", 10)
    assert fake.protocol_errors == []
    client.close()
    assert stack.processes["bot"].poll() is None  # (the worker was stopped on purpose)
