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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import dlt
from dlt.common.destination import Destination
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from mogulsync._redact import redact_url
from mogulsync.errors import ConfigError

FileFormat = Literal["jsonl", "parquet", "csv", "insert_values"]
_FILE_FORMATS: dict[str, FileFormat] = {"jsonl": "jsonl", "parquet": "parquet", "csv": "csv"}
_BUCKETS = ("file", "s3", "gs", "gcs", "az", "abfss", "sftp")
_POSTGRES = ("postgres", "postgresql")


@dataclass(frozen=True, slots=True)
class ResolvedDestination:
    """A dlt destination, the file format to load with, and a printable (redacted) URL."""

    destination: Destination[Any, Any]
    loader_file_format: FileFormat | None
    display: str
    kind: str


def resolve_destination(url: str, dataset: str | None = None) -> ResolvedDestination:
    """The dlt destination for ``url``; ConfigError for one we do not know."""
    display = redact_url(url)
    scheme = urlsplit(url).scheme.lower()
    base = scheme.split("+", 1)[0]
    if base == "duckdb":
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
        return ResolvedDestination(dlt.destinations.duckdb(path), "jsonl", display, "duckdb")
    if base in _POSTGRES:
        return ResolvedDestination(
            dlt.destinations.postgres(credentials=_postgres_credentials(url)),
            None,
            display,
            "postgres",
        )
    if base == "snowflake":
        return ResolvedDestination(
            dlt.destinations.snowflake(credentials=url), None, display, "snowflake"
        )
    if base == "bigquery":
        return ResolvedDestination(dlt.destinations.bigquery(), None, display, "bigquery")
    if base == "motherduck":
        return ResolvedDestination(dlt.destinations.motherduck(), None, display, "motherduck")
    if base in _BUCKETS:
        return _files(url, display)
    raise ConfigError(
        f"destination {display} is not supported",
        hint="Use duckdb:///file.duckdb, postgresql://..., snowflake://..., bigquery://..., "
        "or file:///dir?format=parquet (see docs/extract.md).",
    )


def _postgres_credentials(url: str) -> PostgresCredentials:
    credentials = PostgresCredentials("postgresql://" + url.split("://", 1)[1])
    if not urlsplit(url).password:
        # dlt insists on a password; an empty one lets libpq use trust auth or ~/.pgpass.
        credentials.password = ""
    return credentials


def _files(url: str, display: str) -> ResolvedDestination:
    parts = urlsplit(url)
    wanted = parse_qs(parts.query).get("format", ["jsonl"])[0]
    file_format = _FILE_FORMATS.get(wanted)
    if file_format is None:
        raise ConfigError(
            f"destination {display}: format must be one of {', '.join(_FILE_FORMATS)}"
        )
    bucket = parts._replace(query="").geturl()
    return ResolvedDestination(
        dlt.destinations.filesystem(bucket_url=bucket), file_format, display, "filesystem"
    )
