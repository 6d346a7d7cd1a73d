"""Errors that carry the CLI exit code and a message a member or user can read."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_MISSING_ASSET = 4


class AlbumifyError(Exception):
    """Base class: `str(err)` is safe to show to a member; `exit_code` is the CLI's."""

    exit_code = 1


class BadInput(AlbumifyError):
    """The photo cannot be used (unreadable, a bomb, too large, not an image)."""

    exit_code = EXIT_BAD_INPUT


class MissingAsset(AlbumifyError):
    """Weights or an index are missing or invalid; the message says how to fix it."""

    exit_code = EXIT_MISSING_ASSET


class UsageError(AlbumifyError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError, ValueError):
    """A setting outside what it may be (the message names the variable and its range);
    still a ValueError, as the settings' other parse errors are."""
