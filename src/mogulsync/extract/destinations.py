"""Destination URLs → dlt destinations.

=========================================  =================================================
URL                                        dlt destination
=========================================  =================================================
``duckdb:///path/file.duckdb``             DuckDB file (the embedded default)
``postgresql://user:pw@host:5432/db``      PostgreSQL (``postgres://`` and ``+driver`` too)
``snowflake://user:pw@account/db``         Snowflake (``pip install "dlt[snowflake]"``)
``bigquery://``                            BigQuery; project and credentials from dlt config
``motherduck://db``                        MotherDuck; token from dlt's usual config
``file:///dir?format=parquet``             files (``parquet`` needs pyarrow; ``jsonl``, ``csv``)
``s3://bucket/dir``, ``gs://``, ``az://``  files in a bucket; credentials from dlt's config
=========================================  =================================================

Parsing a URL (:func:`parse_destination`) does not import dlt, so a run can check its
destination and start fetching while dlt is still being imported; :meth:`build` makes
the dlt destination.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from mogulsync._docs import EXTRACT_DESTINATIONS
from mogulsync._redact import display_url
from mogulsync.errors import ConfigError

if TYPE_CHECKING:
    from dlt.common.destination import Destination
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

FileFormat = Literal["jsonl", "parquet", "csv", "insert_values"]
Kind = Literal["duckdb", "postgres", "snowflake", "bigquery", "motherduck", "filesystem"]
_FILE_FORMATS: dict[str, FileFormat] = {"jsonl": "jsonl", "parquet": "parquet", "csv": "csv"}
_BUCKETS = ("file", "s3", "gs", "gcs", "az", "abfss", "sftp")
_POSTGRES = ("postgres", "postgresql")
#: dlt's default replace truncates every replaced table when the load starts and inserts the
#: new rows after, outside one transaction: a load failing half way (a refused row, a lost
#: connection) leaves tables empty, or invoices without their line items, until a later run
#: loads. Through the staging schema each table and its child tables are swapped in one
#: transaction. Set on the destination itself, not the environment: other dlt pipelines of
#: the process (file destinations refuse it) are left alone; an exported value wins.
_ATOMIC_REPLACE: Final = "insert-from-staging"
_REPLACE_STRATEGY_ENV: Final = "DESTINATION__REPLACE_STRATEGY"
_SIMPLE: dict[str, Kind] = {
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "motherduck": "motherduck",
}


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """A checked destination URL: what dlt destination it names, before dlt is imported."""

    url: str
    kind: Kind
    loader_file_format: FileFormat | None
    display: str
    #: the DuckDB file, or the bucket URL without its query
    location: str = ""

    def build(self) -> ResolvedDestination:
        """The dlt destination (imports dlt)."""
        in_place = self.kind == "duckdb" and _replaced_in_place(self.location)
        return ResolvedDestination(
            _dlt_destination(self, replaced_in_place=in_place),
            self.loader_file_format,
            self.display,
            self.kind,
            replace_staged=not in_place,
        )


@dataclass(frozen=True, slots=True)
class ResolvedDestination:
    """A dlt destination, the file format to load with, and a printable (redacted) URL."""

    destination: Destination[Any, Any]
    loader_file_format: FileFormat | None
    display: str
    kind: str
    #: whether a replaced table goes through the staging schema (False: truncated and
    #: filled in place, as in a DuckDB file this run creates)
    replace_staged: bool = True


def resolve_destination(url: str, dataset: str | None = None) -> ResolvedDestination:
    """The dlt destination for ``url``; ConfigError for one we do not know."""
    return parse_destination(url, dataset).build()


def parse_destination(url: str, dataset: str | None = None) -> DestinationSpec:
    """Check ``url`` and say which dlt destination it names; ConfigError if none."""
    display = display_url(url)
    scheme = urlsplit(url).scheme.lower()
    base = scheme.split("+", 1)[0]
    if base == "duckdb":
        return _duckdb(url, display, dataset)
    if base in _POSTGRES:
        return DestinationSpec(url, "postgres", None, display)
    if base in _SIMPLE:
        return DestinationSpec(url, _SIMPLE[base], None, display)
    if base in _BUCKETS:
        return _files(url, display)
    raise ConfigError(
        f"destination {display} is not supported",
        hint="Use duckdb:///file.duckdb, postgresql://..., snowflake://..., bigquery://..., "
        f"or file:///dir?format=parquet (see {EXTRACT_DESTINATIONS}).",
    )


def _duckdb(url: str, display: str, dataset: str | None) -> DestinationSpec:
    path = url.split("://", 1)[1].removeprefix("/") if "://" in url else url[len("duckdb:") :]
    if not path:
        raise ConfigError(f"destination {display} names no DuckDB file")
    if dataset is not None and PurePath(path).stem == dataset:
        # DuckDB names the file's catalog after the file: a schema of the same name makes
        # every reference ambiguous and dlt's load fails (and stays pending).
        raise ConfigError(
            f"destination {display}: the DuckDB file is named like the dataset `{dataset}`",
            hint="Rename the file (e.g. chartmogul_extract.duckdb) or choose another"
            " dataset with --dataset / extract.dataset.",
        )
    # DuckDB reads JSON lines natively: far faster than dlt's default INSERT statements.
    return DestinationSpec(url, "duckdb", "jsonl", display, location=path)


def _files(url: str, display: str) -> DestinationSpec:
    parts = urlsplit(url)
    wanted = parse_qs(parts.query).get("format", ["jsonl"])[0]
    file_format = _FILE_FORMATS.get(wanted)
    if file_format is None:
        raise ConfigError(
            f"destination {display}: format must be one of {', '.join(_FILE_FORMATS)}"
        )
    if file_format == "parquet" and importlib.util.find_spec("pyarrow") is None:
        # found now, not after every page was fetched (dlt fails in its normalize step)
        raise ConfigError(
            f"destination {display}: the parquet format needs pyarrow, which is not installed",
            hint='pip install "mogulsync[parquet]" (or use format=jsonl or csv).',
        )
    bucket = parts._replace(query="").geturl()
    return DestinationSpec(url, "filesystem", file_format, display, location=bucket)


def _dlt_destination(spec: DestinationSpec, *, replaced_in_place: bool) -> Destination[Any, Any]:
    import dlt

    if spec.kind == "duckdb":
        # dlt runs DuckDB's SQL jobs without a transaction unless they hold DDL: a swap
        # (DELETE, then INSERT from staging) or a merge failing half way would commit
        # its DELETE
        options: dict[str, Any] = {"supports_transactions": True}
        if not replaced_in_place:
            options.update(_replace_strategy())
        return dlt.destinations.duckdb(spec.location, **options)
    if spec.kind == "postgres":
        credentials = _postgres_credentials(spec.url)
        return dlt.destinations.postgres(credentials=credentials, **_replace_strategy())
    if spec.kind == "snowflake":
        return dlt.destinations.snowflake(credentials=spec.url)
    if spec.kind == "bigquery":
        return dlt.destinations.bigquery()
    if spec.kind == "motherduck":
        return dlt.destinations.motherduck()
    return dlt.destinations.filesystem(bucket_url=spec.location)


def _replaced_in_place(location: str) -> bool:
    """True for a DuckDB file this run creates (unless the user exported a replace
    strategy): it holds no table a failed load could empty, so dlt's default replace
    (truncate, then insert) is as safe as the staged swap and skips its staging tables
    (~35 ms of an empty run's ~0.9 s). Only an absolute path: dlt places a relative one
    under a directory it decides."""
    path = Path(location)
    new_file = path.is_absolute() and not path.exists()
    return new_file and _REPLACE_STRATEGY_ENV not in os.environ


def _replace_strategy() -> dict[str, Any]:
    """The replace strategy to build a SQL destination with (none: the user exported one)."""
    if _REPLACE_STRATEGY_ENV in os.environ:
        return {}
    return {"replace_strategy": _ATOMIC_REPLACE}


def _postgres_credentials(url: str) -> PostgresCredentials:
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    credentials = PostgresCredentials("postgresql://" + url.split("://", 1)[1])
    if not urlsplit(url).password:
        # dlt insists on a password; an empty one lets libpq use trust auth or ~/.pgpass.
        credentials.password = ""
    return credentials
