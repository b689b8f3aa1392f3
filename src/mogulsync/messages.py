"""The text of user-facing errors, shared by every command (and by ``check``'s report)."""

from __future__ import annotations

from mogulsync.errors import MogulsyncError


def describe(error: MogulsyncError) -> str:
    """An error for a terminal: the message, then what to do on its own line."""
    if not error.hint:
        return error.message
    return f"{error.message.rstrip()}\n  → {error.hint}"


def api_calls_phrase(count: int) -> str:
    """``1 API call``, ``2 API calls``: run summaries read as sentences."""
    return f"{count} API call" if count == 1 else f"{count} API calls"
