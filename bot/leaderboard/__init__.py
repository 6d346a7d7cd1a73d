"""Server leaderboards: members vote on covers; each server has its hall of fame.

`store` holds all Redis logic and `periods` the UTC week/month keys (neither imports discord,
so the worker can record covers); `cog` and `views` are the Discord side.
"""

from __future__ import annotations

from typing import Any

from worker.schema import VOTE_ID

VOTE_EMOJI = "⭐"


def vote_label(votes: int) -> str:
    """The Vote button's label: the live count, edited after every vote."""
    return f"Vote · {votes}" if votes else "Vote"


def vote_component(result_id: str, votes: int = 0) -> dict[str, Any]:
    """The raw Vote button for the worker's result message (beside Re-roll and Delete)."""
    return {
        "type": 2,
        "style": 1,
        "label": vote_label(votes),
        "emoji": {"name": VOTE_EMOJI},
        "custom_id": VOTE_ID.format(result_id=result_id),
    }
