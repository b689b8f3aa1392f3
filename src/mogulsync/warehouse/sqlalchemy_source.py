"""Any SQLAlchemy-reachable warehouse (DuckDB, PostgreSQL, Snowflake, BigQuery, ...).

Rows are streamed with server-side cursors (``stream_results`` + ``yield_per``) so a model
of millions of rows is read in batches of ``batch_size`` with flat memory. A model is
compiled by running it with ``LIMIT 0``: the warehouse parses and plans the query and
describes its columns without reading a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from mogulsync._gcpause import paused_gc
from mogulsync._redact import display_url, redact_url
from mogulsync.config.starter import SAMPLE_FILE
from mogulsync.config.warehouse import ModelConfig, WarehouseConfig
from mogulsync.warehouse.base import (
    Column,
    ModelCompileError,
    ModelSchema,
    Row,
    WarehouseConfigError,
    WarehouseError,
)
from mogulsync.warehouse.model_sql import subquery_sql
from mogulsync.warehouse.pg_moments import read_unrepresentable_moments_as_text
from mogulsync.warehouse.types import attribute_type_for, describe_type

_ALIAS = "mogulsync_model"
DUCKDB_SCHEME = "duckdb:"
#: DuckDB databases that are not local files (MotherDuck)
_NOT_FILES = ("md:", "motherduck:")
#: SQLAlchemy dialect → the package that provides it (``pip install ...``)
DIALECT_PACKAGES = {
    "snowflake": "snowflake-sqlalchemy  (or: pip install 'mogulsync[snowflake]')",
    "bigquery": "sqlalchemy-bigquery  (or: pip install 'mogulsync[bigquery]')",
    "redshift": "sqlalchemy-redshift redshift_connector  (or: pip install 'mogulsync[redshift]')",
    "mysql": "pymysql  (or: pip install 'mogulsync[mysql]'; URL: mysql+pymysql://...)",
    "mssql": "pymssql  (or: pip install 'mogulsync[mssql]'; URL: mssql+pymssql://...)",
    "databricks": (
        "databricks-sqlalchemy  (or: pip install 'mogulsync[databricks]'; URL:"
        " databricks://token:${DATABRICKS_TOKEN}@HOST?http_path=...&catalog=...&schema=...)"
    ),
}
#: Values per IN (...) list when fetching child rows (drivers cap bound parameters).
CHILD_CHUNK = 500


class SqlAlchemySource:
    """A :class:`~mogulsync.warehouse.base.WarehouseSource` over one SQLAlchemy engine."""

    def __init__(self, name: str, config: WarehouseConfig, *, read_only: bool = False) -> None:
        """``read_only``: open a DuckDB file read-only (nothing in this process writes to it).

        A DuckDB file that does not exist is an error, never silently created empty: a typo
        in the URL would otherwise surface as "table does not exist".
        """
        self.name = name
        self._config = config
        url = config.url.get_secret_value()
        self._safe_url = display_url(url)
        duckdb_file = duckdb_file_of(url)
        #: where the data is, as errors name it (the resolved file for DuckDB)
        self._where = f"DuckDB file {duckdb_file}" if duckdb_file else self._safe_url
        if duckdb_file is not None and not duckdb_file.exists():
            hint = (
                f"Check the URL of warehouses.{name}; a relative duckdb:/// path starts at"
                " the project file's directory."
            )
            if duckdb_file.name == SAMPLE_FILE:  # the starter's: likely the sample
                hint += f" The sample: python -m mogulsync.sample_warehouse {duckdb_file}"
            raise WarehouseConfigError(
                f"warehouse `{name}`: the DuckDB file {duckdb_file} does not exist"
                " (mogulsync reads warehouses, it never creates one)",
                # `warehouses.main` may be the URL itself (`main: duckdb:///...`): no `.url`
                hint=hint,
            )
        options: dict[str, Any] = {}
        if duckdb_file is not None and read_only:
            options["connect_args"] = {"read_only": True}
        try:
            self._engine: Engine = sa.create_engine(url, **options)
        except Exception as exc:  # bad URL, missing dialect package
            raise WarehouseConfigError(
                f"warehouse `{name}` ({self._safe_url}) cannot be opened: {self._clean(exc)}",
                hint=_open_hint(name, url),
            ) from None
        read_unrepresentable_moments_as_text(self._engine)

    def compile(self, model: ModelConfig) -> ModelSchema:
        """Columns of the model, from a ``LIMIT 0`` run of it."""
        query = sa.text(f"SELECT * FROM ({self._base_sql(model)}) AS {_ALIAS} LIMIT 0")  # noqa: S608
        try:
            # connecting apart from running the SQL: a login or network failure (Snowflake
            # raises DatabaseError for it) is no reason to "fix the SQL"
            connection = self._engine.connect()
        except Exception as exc:
            raise self._unreachable(exc) from None
        try:
            with connection:
                result = connection.execute(query)
                description = result.cursor.description if result.cursor else None
                # the names rows are streamed under: dialects that normalise names
                # (Snowflake's unquoted ID is `id`) differ from the raw description
                names = list(result.keys())
        except sa.exc.OperationalError as exc:
            raise self._unreachable(exc) from None
        except Exception as exc:
            raise ModelCompileError(
                f"model does not compile in warehouse `{self.name}` ({self._where}):"
                f" {self._clean(exc)}",
                hint="Run its SQL in the warehouse and fix it.",
            ) from None
        dialect = self._engine.dialect.name
        columns = tuple(
            Column(
                str(name),
                describe_type(item[1], dialect=dialect, precision=_at(item, 4), scale=_at(item, 5)),
                attribute_type_for(item[1], dialect=dialect, scale=_at(item, 5)),
            )
            for name, item in zip(names, description or (), strict=True)
        )
        _refuse_repeated_names(columns)
        missing = [key for key in model.primary_key_columns if key not in {c.name for c in columns}]
        if missing:
            raise ModelCompileError(
                f"primary key column(s) {', '.join(missing)} are not in the model's columns"
                f" ({', '.join(c.name for c in columns)})",
                hint="Select the column or fix `primary_key`.",
            )
        return ModelSchema(columns)

    def stream(self, model: ModelConfig) -> Iterator[Sequence[Row]]:
        """Every row, ``batch_size`` at a time, through a server-side cursor."""
        query = sa.text(f"SELECT * FROM ({self._base_sql(model)}) AS {_ALIAS}")  # noqa: S608
        batch_size = self._config.batch_size
        try:
            with self._engine.connect() as connection:
                result = connection.execution_options(
                    stream_results=True, yield_per=batch_size
                ).execute(query)
                keys = list(result.keys())
                while True:
                    with paused_gc():  # a batch of fresh rows, no cycles among them
                        rows = result.fetchmany(batch_size)
                        batch = [dict(zip(keys, row, strict=True)) for row in rows]
                    if not batch:
                        return
                    yield batch
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(
                f"reading from warehouse `{self.name}` failed: {self._clean(exc)}"
            ) from None

    def rows_matching(
        self, model: ModelConfig, column: str, values: Sequence[Any]
    ) -> Sequence[Row]:
        """Rows whose ``column`` is in ``values``, fetched in chunks of bound parameters."""
        quoted = self._engine.dialect.identifier_preparer.quote(column)
        query = sa.text(
            f"SELECT * FROM ({self._base_sql(model)}) AS {_ALIAS}"  # noqa: S608
            f" WHERE {_ALIAS}.{quoted} IN :values"
        ).bindparams(sa.bindparam("values", expanding=True))
        found: list[Row] = []
        try:
            with self._engine.connect() as connection:
                for start in range(0, len(values), CHILD_CHUNK):
                    chunk = list(values[start : start + CHILD_CHUNK])
                    result = connection.execute(query, {"values": chunk})
                    keys = list(result.keys())
                    found.extend(dict(zip(keys, row, strict=True)) for row in result)
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(
                f"reading child rows from warehouse `{self.name}` failed: {self._clean(exc)}"
            ) from None
        return found

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()

    def _base_sql(self, model: ModelConfig) -> str:
        if model.sql is not None:
            return subquery_sql(model.sql, self._engine.dialect.name)
        preparer = self._engine.dialect.identifier_preparer
        assert model.table is not None  # guaranteed by ModelConfig's validator
        parts = model.table.split(".")
        if len(parts) == 1 and self._config.schema_:
            parts = [self._config.schema_, *parts]
        quoted = ".".join(preparer.quote(part) for part in parts)
        return f"SELECT * FROM {quoted}"  # noqa: S608 - identifiers quoted by the dialect

    def _unreachable(self, exc: BaseException) -> WarehouseError:
        if self._where.startswith("DuckDB file"):
            hint = (
                f"Check the file of warehouses.{self.name}: a DuckDB database, not held open"
                " for writing by another process?"
            )
        else:
            hint = f"Check that it is up, and the URL and credentials of warehouses.{self.name}."
        return WarehouseError(
            f"warehouse `{self.name}` ({self._safe_url}) is not reachable: {self._clean(exc)}",
            hint=hint,
        )

    def _clean(self, exc: BaseException) -> str:
        """The first line of a driver error, with any URL password masked."""
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = text[0] if text else type(exc).__name__
        return redact_url(first.replace(self._config.url.get_secret_value(), self._safe_url))


def _refuse_repeated_names(columns: Sequence[Column]) -> None:
    """Refuse a model returning two columns of one name (a join's ``a.id, b.id`` in
    PostgreSQL): rows are read by name, so one would silently hide the other."""
    positions: dict[str, list[int]] = {}
    for number, column in enumerate(columns, start=1):
        positions.setdefault(column.name, []).append(number)
    repeated = {name: numbers for name, numbers in positions.items() if len(numbers) > 1}
    if repeated:
        name, numbers = next(iter(repeated.items()))
        listed = ", ".join(str(number) for number in numbers[:-1]) + f" and {numbers[-1]}"
        others = (
            f" (also: {', '.join(f'`{n}`' for n in list(repeated)[1:])})"
            if len(repeated) > 1
            else ""
        )
        raise ModelCompileError(
            f"the model returns two or more columns named `{name}` (columns {listed}){others};"
            " rows are read by column name, so one would hide the other",
            hint=f"Give each column its own name in the model's SQL, e.g. `p.{name} AS"
            f" plan_{name}`.",
        )


def _at(item: Sequence[Any], index: int) -> int | None:
    """A DB-API description's integer field (precision 4, scale 5), when the driver gives it."""
    value = item[index] if len(item) > index else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def duckdb_file_of(url: str) -> Path | None:
    """The file a ``duckdb:///...`` URL opens; None for other URLs, ``:memory:``, MotherDuck."""
    if not url.lower().startswith(DUCKDB_SCHEME):
        return None
    try:
        database = make_url(url).database
    except Exception:
        return None  # create_engine reports the bad URL
    if not database or database.startswith(":") or database.lower().startswith(_NOT_FILES):
        return None
    return Path(database)


def _open_hint(name: str, url: str) -> str:
    dialect = url.split(":", 1)[0].split("+", 1)[0].lower()
    package = DIALECT_PACKAGES.get(dialect)
    if package is not None:
        return f"Check warehouses.{name}; the `{dialect}` dialect needs: pip install {package}"
    return f"Check warehouses.{name} (install the dialect package if needed)."
