"""Turn an exception raised while applying a row into row errors a person can act on."""

from __future__ import annotations

import pydantic

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulAPIError,
    ChartMogulUnreachableError,
    NotFoundError,
    ResponseFormatError,
    TransportError,
    ValidationError,
)
from mogulsync.errors import MogulsyncError, RetriableError
from mogulsync.messages import describe
from mogulsync.runs.models import RowError
from mogulsync.sync.apply import RowRejectedError

_RETRY_NEXT_RUN = "Nothing to fix if it is transient: the row is retried on the next run."
_FIX_AND_RERUN = "Fix the value in the warehouse; the row is retried on every run until it lands."
_TYPE_LOCKED = "already exists with type"
#: the row kind of a failure with nothing to fix (retried on the next run)
_TRANSIENT = "transient"

__all__ = ["describe", "row_errors"]  # describe moved to mogulsync.messages (kept for imports)


def row_errors(key: str, exc: BaseException) -> list[RowError]:
    """One row error per refused field (at least one)."""
    if isinstance(exc, RowRejectedError):
        return [RowError(key, exc.field, exc.message, exc.action)]
    if isinstance(exc, AlreadyExistsError):
        return [RowError(key, exc.field, exc.user_message, _FIX_AND_RERUN)]
    if isinstance(exc, ValidationError):
        if not exc.field_errors:
            return [RowError(key, "-", exc.user_message, _FIX_AND_RERUN)]
        return [
            RowError(key, field, f"ChartMogul: {message}", _action_for(message))
            for field, message in exc.field_errors.items()
        ]
    if isinstance(exc, NotFoundError):
        return [
            RowError(
                key,
                exc.resource.replace(" ", "_"),
                exc.user_message,
                "Check the referenced record exists (sync parents first).",
            )
        ]
    undelivered = _undelivered(key, exc)
    if undelivered is not None:
        return [undelivered]
    if isinstance(exc, ChartMogulAPIError):
        return [RowError(key, "-", exc.user_message, _FIX_AND_RERUN)]
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return [RowError(key, field, str(first["msg"]), _FIX_AND_RERUN)]
    message = (
        exc.user_message if isinstance(exc, MogulsyncError) else f"{type(exc).__name__}: {exc}"
    )
    return [RowError(key, "-", message, "Report this as a bug with the run id.", kind="error")]


def _undelivered(key: str, exc: BaseException) -> RowError | None:
    """A row whose fate is unknown or that never got through: nothing in it to fix."""
    if isinstance(exc, ChartMogulUnreachableError):
        return RowError(key, "-", f"not delivered: {exc.message}", _RETRY_NEXT_RUN, _TRANSIENT)
    if isinstance(exc, TransportError | RetriableError):
        message = exc.user_message if isinstance(exc, MogulsyncError) else str(exc)
        text = f"ChartMogul did not accept it in time: {message}"
        return RowError(key, "-", text, _RETRY_NEXT_RUN, _TRANSIENT)
    if isinstance(exc, ResponseFormatError):
        return RowError(
            key,
            "-",
            f"ChartMogul's answer could not be read: {exc.user_message}",
            "Nothing to fix in the row: it is looked up and retried on the next run.",
            _TRANSIENT,
        )
    return None


def _action_for(message: str) -> str:
    if _TYPE_LOCKED in message:
        return (
            "ChartMogul locked this custom attribute's type when it was first created: cast the"
            " column to that type (or set custom_attribute_types), or use another column name."
        )
    return _FIX_AND_RERUN
