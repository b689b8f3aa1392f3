"""``state_store:`` — an optional team-shared PostgreSQL home for the sync state.

Without it the state is embedded (SQLite under ``state_dir``). With it, snapshots, known
uuids, sync definitions and the one-run-per-sync lock live in PostgreSQL, so several workers
can run the same project. Run history always stays local in ``state_dir``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from mogulsync.config._base import ConfigModel

DEFAULT_STATE_SCHEMA = "mogulsync"
#: URL schemes accepted for the shared store (SQLAlchemy names; psycopg is the driver)
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgres")
#: a schema name is used as a SQL identifier: keep it plain
SCHEMA_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: seconds a connection to the store may take before the run gives up (psycopg's own
#: default is 130 s per address, so a host that drops packets held a run for minutes)
DEFAULT_CONNECT_TIMEOUT_S = 10
#: libpq waits at least this long, whatever it is told
MIN_CONNECT_TIMEOUT_S = 2


class StateStoreConfig(ConfigModel):
    """Where the shared state lives: a PostgreSQL URL (from ``${ENV}``) and a schema."""

    url: SecretStr = Field(description="postgresql URL, e.g. ${MOGULSYNC_STATE_URL}")
    schema_: str = Field(
        default=DEFAULT_STATE_SCHEMA,
        alias="schema",
        pattern=SCHEMA_PATTERN,
        description="created if missing",
    )
    connect_timeout_s: int = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S,
        ge=MIN_CONNECT_TIMEOUT_S,
        description="seconds to wait for PostgreSQL to answer a connection (libpq's minimum is 2)",
    )

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        # Empty: a ${ENV} left unset in a command that does not read this section.
        if text and text.split("://", 1)[0].lower() not in POSTGRES_SCHEMES:
            scheme = text.split("://", 1)[0] if "://" in text else "(none)"
            msg = (
                f"must be a PostgreSQL URL (postgresql://user:pass@host/db), not scheme `{scheme}`"
            )
            raise ValueError(msg)
        return value
