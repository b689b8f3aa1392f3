"""Turn an exception raised while applying a row into row errors a person can act on."""

from __future__ import annotations

import pydantic

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulAPIError,
    ChartMogulError,
    ChartMogulUnreachableError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
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
_MAY_HAVE_LANDED = (
    "no answer came back, so it may have landed; the next run looks it up before sending it again"
)
_EARLIER_MAY_HAVE_LANDED = (
    "an earlier attempt's answer was lost, so the record may be in ChartMogul; this"
    " attempt failed too and settled nothing (the next run looks it up before sending it"
    " again)"
)
_OWN_LOST = (
    "maybe this row's own earlier attempt, whose answer was lost: it could not be looked up;"
    " the next run looks it up"
)
#: ChartMogul's "too many connections": it answered without processing anything
_TOO_MANY_CONNECTIONS = 503
#: the row kind of a failure with nothing to fix (retried on the next run)
_TRANSIENT = "transient"

# describe moved to mogulsync.messages (kept for imports)
__all__ = ["describe", "may_have_landed", "row_errors"]


def row_errors(
    key: str, exc: BaseException, *, earlier_may_have_landed: bool = False
) -> list[RowError]:
    """One row error per refused field (at least one).

    ``earlier_may_have_landed``: the row was in flight from an earlier attempt whose
    outcome is still unknown (this one's failure did not settle it).
    """
    unsettled = _unsettled(key, exc, earlier_may_have_landed)
    if unsettled is not None:
        return [unsettled]
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


def _unsettled(key: str, exc: BaseException, earlier: bool) -> RowError | None:
    """The error of a row whose record may exist although this attempt failed: its
    earlier attempt (``earlier``) or one of this call's got no answer."""
    if earlier and not may_have_landed(exc):
        undelivered = _undelivered(key, exc, earlier=True)
        if undelivered is not None:
            return undelivered
    if isinstance(exc, AlreadyExistsError) and exc.earlier_attempt_unknown:
        text = f"{exc.user_message} ({_OWN_LOST})"
        return RowError(key, exc.field, text, _RETRY_NEXT_RUN, _TRANSIENT)
    return None


def _undelivered(key: str, exc: BaseException, *, earlier: bool = False) -> RowError | None:
    """A row whose fate is unknown or that never got through: nothing in it to fix.

    ``earlier``: an earlier attempt of the row may have landed (its record may exist
    whatever this failure says).
    """
    # a write whose answer was lost is not "not delivered": say it may be in ChartMogul
    lost = f"ChartMogul's answer was lost ({_MAY_HAVE_LANDED})" if may_have_landed(exc) else ""
    if earlier and not lost:
        lost = _EARLIER_MAY_HAVE_LANDED
    if isinstance(exc, ChartMogulUnreachableError):
        text = f"{lost or 'not delivered'}: {exc.message}"
        return RowError(key, "-", text, _RETRY_NEXT_RUN, _TRANSIENT)
    if isinstance(exc, TransportError | RetriableError):
        message = exc.user_message if isinstance(exc, MogulsyncError) else str(exc)
        if not lost and isinstance(exc, ChartMogulError) and exc.method == "GET":
            lost = "a lookup failed (nothing was written)"
        text = f"{lost or 'ChartMogul did not accept it in time'}: {message}"
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


def may_have_landed(exc: BaseException) -> bool:
    """Whether a failure may hide a write that landed: its answer was lost (no answer, a
    500/502/504, an unreadable 2xx), now or in an earlier attempt of the same call. A
    failed GET (a lookup) wrote nothing, unless a write's lost attempt came before it."""
    if isinstance(exc, ChartMogulError) and exc.earlier_attempt_unknown:
        return True
    if isinstance(exc, ChartMogulError) and exc.method == "GET":
        return False
    if isinstance(exc, TransportError):
        return exc.may_have_been_sent
    if isinstance(exc, ResponseFormatError):  # answered 2xx: the write may have landed
        return True
    return isinstance(exc, ServerError) and exc.status != _TOO_MANY_CONNECTIONS


def _action_for(message: str) -> str:
    if _TYPE_LOCKED in message:
        return (
            "ChartMogul locked this custom attribute's type when it was first created: cast the"
            " column to that type (or set custom_attribute_types), or use another column name."
        )
    return _FIX_AND_RERUN
