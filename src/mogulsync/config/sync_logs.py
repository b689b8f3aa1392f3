"""``sync_logs:`` — per-row results of every run written back into the sync's warehouse."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from mogulsync.config._base import ConfigModel

DEFAULT_SYNC_LOG_SCHEMA = "mogulsync"
DEFAULT_SYNC_LOG_TABLE = "sync_log"


class SyncLogsConfig(ConfigModel):
    """Where run logs go in each sync's source warehouse (``sync_logs: true`` is the short form).

    Every row a run acts on (sent, deleted or rejected) becomes one row of
    ``<schema>.<table>`` in the warehouse its model reads from. A sync opts out with
    ``sync_logs: false`` under ``syncs.<name>``.
    """

    enabled: bool = False
    schema_: str | None = Field(
        default=DEFAULT_SYNC_LOG_SCHEMA,
        alias="schema",
        min_length=1,
        description="schema created if missing; null for the connection's default schema",
    )
    table: str = Field(default=DEFAULT_SYNC_LOG_TABLE, min_length=1, pattern=r"^[^.]+$")

    @model_validator(mode="before")
    @classmethod
    def _bool_shorthand(cls, value: Any) -> Any:
        """``sync_logs: true`` is short for ``sync_logs: {enabled: true}``."""
        if isinstance(value, bool):
            return {"enabled": value}
        return value
