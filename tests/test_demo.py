"""`albumify demo` plays a conversation against real processes and writes it as a page."""

from __future__ import annotations

import shutil

import pytest

from devtools.demo import run_demo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def test_demo_writes_the_conversation(tmp_path, example_photo):
    page = run_demo(tmp_path / "demo.html", example_photo).read_text(encoding="utf-8")
    assert page.count("not everything can be an album cover") == 3  # cover, re-roll, @mention
    assert page.count('<img class="cover" src="data:image/jpeg;base64,') >= 3
    assert "used /albumify" in page and "(re-roll)" in page
    assert "top covers" in page  # the leaderboard
    assert "isn&#x27;t a photo" in page and "Only you can see this" in page
