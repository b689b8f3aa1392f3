"""One exception hierarchy for all of mogulsync.

The first level says what the caller should do about the error::

    MogulsyncError                 root: catch this to catch everything we raise
    ├── ConfigError                the user must fix configuration or input, then re-run
    ├── RetriableError             transient: the same call may succeed later
    ├── FatalError                 the operation cannot succeed as asked; stop it
    └── SkippableError             this one record failed; the rest of the work goes on

Subpackages add their own subclasses (``mogulsync.chartmogul.errors`` maps every
ChartMogul error body onto this tree). Every error carries structured attributes for run
records via :meth:`MogulsyncError.attrs` and a ``user_message`` that tells a person what to
fix, kept apart from internal detail. Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any


class MogulsyncError(Exception):
    """Root of every error mogulsync raises."""

    #: What a person should do about this error; subclasses refine it.
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    @property
    def user_message(self) -> str:
        """The message and, when known, what to do about it."""
        if not self.hint:
            return self.message
        message = self.message.rstrip()
        if "\n" in message:  # a list of problems: the hint goes on its own line
            return f"{message}\n{self.hint}"
        ending = "" if message.endswith((".", "!", "?", ":")) else "."
        return f"{message}{ending} {self.hint}"

    def attrs(self) -> dict[str, Any]:
        """Public attributes for run records and JSON output (dlt's ``attrs()`` habit)."""
        return {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and key != "args"
        } | {"type": type(self).__name__}


class ConfigError(MogulsyncError):
    """Configuration or input is wrong; the user must change it."""


class RetriableError(MogulsyncError):
    """A transient failure; retrying later may succeed."""


class FatalError(MogulsyncError):
    """The operation cannot succeed as asked."""


class SkippableError(MogulsyncError):
    """One record failed; the surrounding work continues."""
