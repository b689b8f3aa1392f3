"""Anchor relative paths of a validated config at the project file's directory.

Like dbt, a project behaves the same whichever directory a command runs from: ``state_dir``,
``events.queue_path`` and DuckDB file URLs (``duckdb:///relative.duckdb``) are relative to the
directory holding ``mogulsync.yml``. Absolute paths, ``:memory:`` and other URLs are kept.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from mogulsync.config.models import AppConfig

#: SQLAlchemy and dlt spelling of a DuckDB file; an absolute path adds a fourth slash
DUCKDB_FILE_PREFIX = "duckdb:///"
_IN_MEMORY = ":memory:"


def anchor_paths(config: AppConfig, base_dir: Path) -> AppConfig:
    """A copy of ``config`` whose relative file paths start at ``base_dir`` (made absolute)."""
    base = base_dir.absolute()
    warehouses = {
        name: warehouse.model_copy(update={"url": _anchor_secret_url(warehouse.url, base)})
        for name, warehouse in config.warehouses.items()
    }
    extract = config.extract.model_copy(
        update={"destination": _anchor_secret_url(config.extract.destination, base)}
    )
    queue_path = config.events.queue_path
    events = config.events.model_copy(
        update={"queue_path": None if queue_path is None else _anchor_path(queue_path, base)}
    )
    dbt = config.dbt
    if dbt is not None:
        dbt = dbt.model_copy(update={"project_dir": _anchor_path(dbt.project_dir, base)})
    return config.model_copy(
        update={
            "dbt": dbt,
            "state_dir": _anchor_path(config.state_dir, base),
            "warehouses": warehouses,
            "extract": extract,
            "events": events,
        }
    )


def _anchor_path(value: str, base: Path) -> str:
    # An empty value is left for the consumer to reject rather than silently becoming ``base``.
    if not value or Path(value).is_absolute():
        return value
    return str(base / value)


def _anchor_secret_url(url: SecretStr, base: Path) -> SecretStr:
    raw = url.get_secret_value()
    anchored = anchor_duckdb_url(raw, base)
    return url if anchored == raw else SecretStr(anchored)


def anchor_duckdb_url(url: str, base: Path) -> str:
    """``duckdb:///rel.duckdb`` → ``duckdb:////<base>/rel.duckdb``; other URLs unchanged."""
    if not url.startswith(DUCKDB_FILE_PREFIX):
        return url
    rest = url.removeprefix(DUCKDB_FILE_PREFIX)
    file_part, query_mark, query = rest.partition("?")
    if not file_part or file_part.startswith(_IN_MEMORY) or Path(file_part).is_absolute():
        return url
    return f"{DUCKDB_FILE_PREFIX}{base / file_part}{query_mark}{query}"
