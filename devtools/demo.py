"""`albumify demo`: the whole bot on this machine, no Discord account needed.

Starts the loopback Discord, redis-server, `albumify bot` and `albumify worker`, plays a short
conversation (a slash command, a re-roll, an @mention, votes, the leaderboard, a refused
file) and writes one self-contained HTML page showing it as members would see it.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from devtools.fakediscord import FakeDiscord, FakeMessage
from devtools.fakediscord.stack import Stack

EXAMPLE_PHOTO = resources.files("devtools") / "data" / "astronaut.png"
"""NASA's public-domain portrait of Eileen Collins: package data, so an installed demo has it."""
DEMO_LIMITS = {"ALBUMIFY_COVER_SIZE": "512", "ALBUMIFY_PROGRESS_INTERVAL": "0.5"}
GREY = "#4e5058"
BUTTON_COLOURS = {1: "#5865f2", 2: GREY, 3: "#248046", 4: "#da373c"}


def example_photo() -> bytes:
    """The photo the demo's members send unless `--photo` names another (PNG bytes)."""
    return EXAMPLE_PHOTO.read_bytes()


def play(fake: FakeDiscord, stack: Stack, photo: bytes) -> None:
    """The scripted conversation; each step waits for what a member would wait for."""

    def final(interaction: Any) -> FakeMessage:
        return fake.wait_until(
            lambda: (
                (m := fake.response_to(interaction)) is not None
                and not m.loading
                and (m.attachments or m.content.startswith("⚠️"))
                and m
            ),
            "the bot's answer",
            120,
        )

    alice, bob, carol, dave = (fake.add_member(n) for n in ("alice", "bob", "carol", "dave"))
    upload = fake.upload("me.png", photo, "image/png")
    first = final(
        fake.slash(
            "albumify",
            alice,
            {"image": upload, "title": "Mission Control", "artist": "Eileen Collins"},
        )
    )
    reroll_id = next(c for c in first.custom_ids if c.startswith("albumify:reroll:"))
    final(fake.click(alice, first, reroll_id))

    from PIL import Image, ImageOps

    mirrored = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(photo)).convert("RGB")).save(mirrored, "PNG")
    post = fake.post_message(
        bob,
        f"{fake.bot.mention} make me an album cover!",
        attachments=[fake.upload("selfie.png", mirrored.getvalue(), "image/png")],
    )
    fake.wait_until(lambda: any(m.attachments for m in fake.replies_to(post)), "bob's cover", 120)

    vote_id = next((c for c in first.custom_ids if c.startswith("albumify:vote:")), None)
    if vote_id is not None:
        for voter in (bob, carol):
            click = fake.click(voter, first, vote_id)
            fake.wait_until(lambda c=click: c.acknowledged, "the vote", 10)
        if any(c["name"] == "leaderboard" for c in fake.commands.get(fake.guild_id, [])):
            board = fake.slash("leaderboard", carol, {"period": "all"})
            # The board answers "thinking…" first, then edits its embed in: wait for that.
            fake.wait_until(
                lambda: (answer := fake.response_to(board)) is not None and answer.embeds,
                "the leaderboard",
                30,
            )

    refused = fake.slash(
        "albumify", dave, {"image": fake.upload("notes.txt", b"not a photo\n", "text/plain")}
    )
    fake.wait_until(lambda: fake.response_to(refused), "the refusal", 10)
    stack.wait_idle()


# -- rendering -------------------------------------------------------------------------------


def _data_uri(fake: FakeDiscord, attachment: dict[str, Any]) -> str:
    data = fake.attachment_bytes(attachment)
    kind = attachment.get("content_type") or "image/png"
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def _text(fake: FakeDiscord, raw: str) -> str:
    """Escape, then Discord's mentions and the bits of markdown the bot uses."""
    text = html.escape(raw)
    names = {str(u.id): u.username for u in fake.members.values()}
    text = re.sub(
        r"&lt;@!?(\d+)&gt;",
        lambda m: f'<span class="mention">@{names.get(m[1], "someone")}</span>',
        text,
    )
    text = re.sub(r"&lt;t:(\d+):R&gt;", "soon", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r'<a href="\2">\1</a>', text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
    return text.replace("\n", "<br>")


def _embed(fake: FakeDiscord, message: FakeMessage, embed: dict[str, Any]) -> str:
    colour = f"#{int(embed.get('color') or 0x5865F2):06x}"
    parts = [f'<div class="embed" style="border-color:{colour}">']
    if embed.get("title"):
        parts.append(f"<div class='title'>{_text(fake, embed['title'])}</div>")
    if embed.get("description"):
        parts.append(f"<div>{_text(fake, embed['description'])}</div>")
    fields = embed.get("fields") or []
    if fields:
        parts.append('<div class="fields">')
        for field in fields:
            width = "inline" if field.get("inline") else "wide"
            parts.append(
                f'<div class="field {width}"><b>{_text(fake, field["name"])}</b><br>'
                f"{_text(fake, field['value'])}</div>"
            )
        parts.append("</div>")
    image = (embed.get("image") or {}).get("url", "")
    by_name = {f"attachment://{a['filename']}": a for a in message.attachments}
    if image in by_name:
        parts.append(f'<img class="cover" src="{_data_uri(fake, by_name[image])}">')
    elif image.startswith(fake.base):  # a CDN link, e.g. the leaderboard's top cover
        served = {"url": image, "content_type": "image/png"}
        parts.append(f'<img class="cover" src="{_data_uri(fake, served)}">')
    if embed.get("footer"):
        parts.append(f"<div class='footer'>{_text(fake, embed['footer']['text'])}</div>")
    parts.append("</div>")
    return "".join(parts)


def _message(fake: FakeDiscord, message: FakeMessage) -> str:
    author = message.author
    badge = ' <span class="badge">APP</span>' if author.bot else ""
    parts = ['<div class="message">']
    if message.interaction_id is not None:
        interaction = fake.interactions.get(message.interaction_id)
        if interaction is not None:
            data = interaction.payload.get("data", {})
            used = f"/{data['name']}" if "name" in data else "a button"
            parts.append(
                f'<div class="used">↳ <b>{html.escape(interaction.user.username)}</b> '
                f"used {html.escape(used)}</div>"
            )
    elif message.message_reference:
        parts.append('<div class="used">↳ replying to a message</div>')
    parts.append(f'<div class="author">{html.escape(author.username)}{badge}</div>')
    if message.content:
        parts.append(f"<div>{_text(fake, message.content)}</div>")
    embedded = {(e.get("image") or {}).get("url") for e in message.embeds}
    for attachment in message.attachments:
        if f"attachment://{attachment['filename']}" in embedded:
            continue
        if (attachment.get("content_type") or "").startswith("image/"):
            parts.append(f'<img class="photo" src="{_data_uri(fake, attachment)}">')
        else:
            parts.append(f'<div class="file">📄 {html.escape(attachment["filename"])}</div>')
    parts += [_embed(fake, message, embed) for embed in message.embeds]
    for row in message.components:
        buttons = "".join(
            f'<span class="button" style="background:{BUTTON_COLOURS.get(c.get("style"), GREY)}">'
            f"{html.escape((c.get('emoji') or {}).get('name', ''))} "
            f"{html.escape(c.get('label', ''))}</span>"
            for c in row.get("components", [])
        )
        parts.append(f'<div class="row">{buttons}</div>')
    if message.reactions:
        parts.append(f'<div class="reactions">{" ".join(message.reactions)} 1</div>')
    progress = [t for t in message.history[:-1] if t]
    if progress:
        steps = " → ".join(html.escape(t) for t in progress)
        parts.append(f'<div class="note">edited while working: {steps}</div>')
    if message.ephemeral:
        parts.append('<div class="note">👁 Only you can see this</div>')
    parts.append("</div>")
    return "".join(parts)


STYLE = """
body { background:#313338; color:#dbdee1; font:15px/1.4 system-ui,sans-serif; margin:0; }
main { max-width:760px; margin:0 auto; padding:24px; }
h1 { font-size:18px; color:#f2f3f5; } .message { padding:10px 0; border-top:1px solid #3f4147; }
.author { color:#f2f3f5; font-weight:600; } .badge { background:#5865f2; color:white;
  font-size:10px; padding:1px 4px; border-radius:3px; } .used, .note { color:#949ba4;
  font-size:13px; } .mention { background:#3c4270; color:#c9cdfb; border-radius:3px; }
.embed { background:#2b2d31; border-left:4px solid; border-radius:4px; padding:10px 14px;
  margin-top:6px; max-width:520px; } .title { font-weight:700; color:#f2f3f5; }
.fields { display:flex; flex-wrap:wrap; gap:8px 24px; margin-top:6px; } .field.wide {
  flex-basis:100%; } .cover, .photo { max-width:400px; border-radius:4px; margin-top:8px;
  display:block; } .footer { color:#949ba4; font-size:12px; margin-top:8px; }
.button { display:inline-block; color:white; padding:4px 12px; border-radius:3px;
  margin:6px 6px 0 0; font-size:14px; } .file { background:#2b2d31; padding:8px;
  display:inline-block; border-radius:4px; } a { color:#00a8fc; }
.reactions { display:inline-block; background:#2b2d31; border-radius:8px; padding:0 6px; }
"""


def render(fake: FakeDiscord) -> str:
    """The channel in order; ephemeral messages shown and marked, as their member saw them."""
    with fake._model_lock:
        messages = [m for m in fake.messages.values() if not m.deleted]
        body = "".join(_message(fake, m) for m in messages)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Albumify demo</title>"
        f"<style>{STYLE}</style></head><body><main><h1># general — Albumify demo "
        "(a loopback Discord; real bot, Redis and worker)</h1>"
        f"{body}</main></body></html>"
    )


def run_demo(output: Path, photo: Path | None = None) -> Path:
    data = photo.read_bytes() if photo else example_photo()
    stack = Stack(DEMO_LIMITS).start()
    try:
        play(stack.fake, stack, data)
        page = render(stack.fake)
    finally:
        stack.stop()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("out/demo.html"))
    parser.add_argument("--photo", type=Path, help="your photo (default: the example portrait)")


def main_from_args(args: argparse.Namespace) -> int:
    written = run_demo(args.output, args.photo)
    print(f"wrote {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="albumify demo", description=__doc__)
    add_arguments(parser)
    return main_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
