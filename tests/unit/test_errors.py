"""The root error hierarchy."""

from __future__ import annotations

import pytest

import mogulsync
from mogulsync.errors import (
    ConfigError,
    FatalError,
    MogulsyncError,
    RetriableError,
    SkippableError,
)


@pytest.mark.parametrize("cls", [ConfigError, RetriableError, FatalError, SkippableError])
def test_first_level_errors_share_the_root(cls: type[MogulsyncError]) -> None:
    """Every first-level error is a MogulsyncError, so one except clause catches all."""
    assert issubclass(cls, MogulsyncError)


def test_user_message_and_attrs() -> None:
    """The hint follows the message (on its own line after a list); attrs() shows fields."""
    error = ConfigError("models.accounts.sql is empty", hint="Give a SELECT statement.")
    assert error.user_message == "models.accounts.sql is empty. Give a SELECT statement."
    listed = ConfigError("2 problems:\n  - a\n  - b", hint="Fix them.")
    assert listed.user_message == "2 problems:\n  - a\n  - b\nFix them."
    assert error.attrs()["type"] == "ConfigError"
    assert error.attrs()["message"] == "models.accounts.sql is empty"


def test_public_surface() -> None:
    """The package exports exactly its documented names."""
    assert set(mogulsync.__all__) == {
        "ConfigError",
        "FatalError",
        "MogulsyncError",
        "RetriableError",
        "SkippableError",
        "__version__",
    }
