"""Which face? The detect job's payload and the preview's string select (torch-free).

"Use another face" on a result (`albumify.buttons.FACES_ID`) makes the bot enqueue a short
detect job (`FACES_JOB_FUNCTION`, a `FacesJob`): the worker finds the faces on the kept photo,
numbers them most prominent first on a small preview, and edits the member's ephemeral
response with it and a string select (`face_select_row`). Picking "Face N" makes the bot
enqueue a cover job with `CoverJob.face = N` (a cover option, part of the request identity).
The bot detects and draws nothing itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from albumify.buttons import ACTION_ROW, FACE_PICK_ID
from albumify.schema import SCHEMA_VERSION, SchemaMismatch

FACES_JOB_FUNCTION = "worker.detect.show_faces"
MAX_FACES = 25
"""Discord's limit on a select's options: the preview numbers at most this many faces."""
STRING_SELECT = 3
"""Discord's component type of a string select."""
PREVIEW_FILENAME = "faces.jpg"


@dataclass(frozen=True)
class FacesJob:
    """Find and number the faces of a result's kept photo; answer through `application_id`'s
    interaction (its token is under `keys.token(job_id)`, never in the payload)."""

    job_id: str
    result_id: str
    guild_id: int
    requester_id: int
    photo_hash: str
    application_id: int
    current_face: int = 1
    """The face the result was built on: marked in the select."""
    spoiler: bool = False
    """The photo was spoilered: so is the preview."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FacesJob:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise SchemaMismatch(f"faces job schema version {data.get('schema_version')!r}")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def face_select_row(result_id: str, count: int, current: int) -> dict[str, Any]:
    """An action row with one string select: "Face 1" … "Face N" (N ≤ `MAX_FACES`), the face
    the cover uses now marked as the default."""
    count = max(1, min(count, MAX_FACES))
    options = [
        {
            "label": f"Face {n}",
            "value": str(n),
            "description": "used on the cover now" if n == current else None,
            "default": n == current,
        }
        for n in range(1, count + 1)
    ]
    for option in options:
        if option["description"] is None:
            del option["description"]
    return {
        "type": ACTION_ROW,
        "components": [
            {
                "type": STRING_SELECT,
                "custom_id": FACE_PICK_ID.format(result_id=result_id),
                "placeholder": "Choose the face for the cover",
                "min_values": 1,
                "max_values": 1,
                "options": options,
            }
        ],
    }


def picked_face(values: Any) -> int | None:
    """The face number a select interaction carries (its `values`), or None if unreadable."""
    if not isinstance(values, list) or len(values) != 1:
        return None
    try:
        number = int(str(values[0]))
    except ValueError:
        return None
    return number if 1 <= number <= MAX_FACES else None
