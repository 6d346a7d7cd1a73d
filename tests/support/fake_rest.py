"""The REST-only fake used by the worker's unit tests (now part of `devtools.fakediscord`)."""

from devtools.fakediscord.rest import (
    API_PREFIX,
    FakeDiscordREST,
    RecordedRequest,
    ScriptedReply,
    json_response,
    rate_limited,
    server_error,
    slow,
)

__all__ = [
    "API_PREFIX",
    "FakeDiscordREST",
    "RecordedRequest",
    "ScriptedReply",
    "json_response",
    "rate_limited",
    "server_error",
    "slow",
]
