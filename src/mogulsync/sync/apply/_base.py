"""What every applier shares: the context, the row-rejection error, input building."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pydantic

from mogulsync.chartmogul import ChartMogulClient, CustomAttribute
from mogulsync.config.sync import SyncConfig
from mogulsync.errors import SkippableError
from mogulsync.sync.diff import Prior
from mogulsync.sync.mapping import CustomValue, MappedRow
from mogulsync.sync.state_protocol import SyncState

T = TypeVar("T", bound=pydantic.BaseModel)


class RowRejectedError(SkippableError):
    """We decided this row cannot be applied; ``field`` and ``action`` say why and what to do."""

    def __init__(self, field: str, message: str, action: str) -> None:
        super().__init__(message, hint=action)
        self.field = field
        self.action = action


@dataclass(slots=True)
class Lookups:
    """What the lookups of one row's apply found out (the engine reads it after the apply)."""

    #: a lookup by the row's match key answered "no such record": an earlier attempt of the
    #: row (in flight) did not land, so a failure now is an ordinary failure
    absent: bool = False


#: the row being applied on this task (the engine sets it per row, in the row's own task)
ROW_LOOKUPS: ContextVar[Lookups | None] = ContextVar("mogulsync_row_lookups", default=None)


def found_absent() -> None:
    """Note that the row's record was looked up and ChartMogul has none (not a lookup that
    failed: that settles nothing)."""
    lookups = ROW_LOOKUPS.get()
    if lookups is not None:
        lookups.absent = True


def in_doubt(prior: Prior | None) -> bool:
    """A row never accepted whose earlier attempt may have landed: looked up before sending."""
    return prior is not None and prior.digest is None and prior.may_exist


class Applier(Protocol):
    """Sends rows of one object type to ChartMogul."""

    async def apply(self, row: MappedRow, prior: Prior | None) -> str | None:
        """Create or update the row's record; its ChartMogul uuid(s)."""
        ...

    async def delete(self, prior: Prior) -> None:
        """Delete the record of a row that left the model."""
        ...


class KeyedLocks:
    """One asyncio lock per key, so two rows with the same match key never race."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def __call__(self, key: str) -> asyncio.Lock:
        return self._locks[key]


@dataclass
class ApplyContext:
    """Everything an applier needs."""

    client: ChartMogulClient
    sync: SyncConfig
    data_source_uuid: str
    state: SyncState
    locks: KeyedLocks
    #: object → the name of the project's sync that writes it to the same data source, for
    #: error messages that say which sync to run (``{"plan": "plans"}``)
    owners: Mapping[str, str] = field(default_factory=dict)


def build(model: type[T], values: Mapping[str, Any], field_prefix: str = "") -> T:
    """A client input model, or RowRejectedError naming the first refused field."""
    try:
        return model.model_validate(dict(values))
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise RowRejectedError(
            f"{field_prefix}{where}", str(error["msg"]), "Fix the value in the warehouse."
        ) from None


def typed_attributes(custom: tuple[CustomValue, ...] | list[CustomValue]) -> list[CustomAttribute]:
    """Custom values as ChartMogul's typed attributes (nulls skipped)."""
    return [
        CustomAttribute(type=item.type, key=item.key, value=item.value)
        for item in custom
        if item.value is not None
    ]


def pick(payload: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The payload's values for ``names`` (absent ones skipped)."""
    return {name: payload[name] for name in names if name in payload}


def nested(payload: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``prefix.field`` values as ``{field: value}``."""
    return {
        name.removeprefix(prefix): value
        for name, value in payload.items()
        if name.startswith(prefix)
    }


def split_uuids(prior: Prior | None) -> list[str]:
    """The uuid(s) the snapshot remembers for a row."""
    if prior is None or not prior.uuid:
        return []
    return [part for part in prior.uuid.split(",") if part]


Factory = Callable[[ApplyContext], Applier]
