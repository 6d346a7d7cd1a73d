"""The loopback Discord's notification rules (`devtools.fakediscord.mentions`): tests that
count pings rely on them, so they are checked against Discord's documented behaviour."""

from __future__ import annotations

import pytest

from devtools.fakediscord.mentions import InvalidAllowedMentions, Pings, pings

TEXT = "<@1>, <@!2> and <@&7> — @everyone"


def test_without_allowed_mentions_everything_in_the_text_pings():
    assert pings(TEXT, None) == Pings(users=[1, 2], roles=[7], everyone=True)
    assert pings("hi", None, replied_author=5) == Pings(users=[5])  # a reply pings by default


def test_parse_none_pings_nobody():
    assert pings(TEXT, {"parse": []}, replied_author=5) == Pings()


def test_a_users_list_lets_only_those_users_through():
    allowed = {"parse": [], "users": ["1"], "replied_user": False}
    assert pings(TEXT, allowed, replied_author=5) == Pings(users=[1])
    assert pings("no mention here", allowed) == Pings()  # listed, but not in the text


def test_parse_kinds_and_the_replied_user():
    assert pings(TEXT, {"parse": ["roles"]}) == Pings(roles=[7])
    assert pings(TEXT, {"parse": ["users", "everyone"]}) == Pings(users=[1, 2], everyone=True)
    assert pings("ok", {"parse": [], "replied_user": True}, replied_author=5) == Pings(users=[5])


def test_parse_users_with_a_users_list_is_refused():
    with pytest.raises(InvalidAllowedMentions):
        pings(TEXT, {"parse": ["users"], "users": ["1"]})
