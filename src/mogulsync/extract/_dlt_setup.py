"""dlt set up for small, frequent jobs: what a run switches off or avoids around dlt.

Most extract runs move little data, so dlt's fixed costs decide how long they take; these
helpers remove the ones we can without changing what lands in the destination.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import dlt

_TELEMETRY_ENV: Final = "RUNTIME__DLTHUB_TELEMETRY"
_SMALL_JOB_ENV: Final = {
    # dlt gzips every intermediate file (written by extract, read and rewritten by
    # normalize, read by the load): CPU spent on files that live for seconds.
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    # ... and keeps the loaded files of every package in the working directory forever.
    "LOAD__DELETE_COMPLETED_JOBS": "true",
}
_URL_MODULE: Final = "dlt.common.libs.sql_alchemy_compat"
_URL_SHIMS: Final = "dlt.common.libs.sql_alchemy_shims"
#: destinations where dropping and re-creating the staging schema is a cheap local DDL
STAGING_DROPPED: Final = frozenset({"duckdb", "postgres"})


def no_telemetry() -> None:
    """dlt sends anonymous usage telemetry by default; revenue tooling should not phone
    home unless its user opts in (``RUNTIME__DLTHUB_TELEMETRY=true`` allows it)."""
    os.environ.setdefault(_TELEMETRY_ENV, "false")


@contextmanager
def small_job_settings() -> Iterator[None]:
    """dlt settings for a run, unless the user set them in the environment already.

    Uncompressed intermediate files (~10 % less CPU for a 2,000-customer run), deleted once
    loaded. Set through the environment, which dlt reads as each step starts, for this run
    only.
    """
    added = {key: value for key, value in _SMALL_JOB_ENV.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextmanager
def urls_without_sqlalchemy() -> Iterator[None]:
    """Let dlt print DuckDB credentials with its own URL class, not SQLAlchemy's.

    dlt renders every credential as a SQLAlchemy URL (in the load's step info, even for a
    DuckDB file) and imports SQLAlchemy for it when it is installed, as it is with
    mogulsync: about 0.25 s of CPU, a fifth of an empty run. dlt ships a drop-in
    replacement for when SQLAlchemy is absent; it stands in for this run only, and only
    when nothing in the process has loaded the real one.
    """
    if _URL_MODULE in sys.modules or "sqlalchemy" in sys.modules:
        yield
        return
    try:
        shims = importlib.import_module(_URL_SHIMS)
    except ImportError:  # a dlt without the shims: the SQLAlchemy import is only slower
        yield
        return
    sys.modules[_URL_MODULE] = shims
    try:
        yield
    finally:
        if sys.modules.get(_URL_MODULE) is shims:
            del sys.modules[_URL_MODULE]


def drop_staging(pipeline: dlt.Pipeline) -> None:
    """Remove ``<dataset>_staging``, the schema dlt merges through, once a load is done.

    dlt keeps it between loads as its working area, but to someone opening the DuckDB file
    it is a second, stale copy of the incremental tables; dlt creates it again (empty) the
    next time it merges. Best effort: the data is committed whatever happens here.
    """
    try:
        with pipeline.sql_client() as client, client.with_staging_dataset():
            if client.has_dataset():
                client.drop_dataset()
    except Exception:  # noqa: S110 - cosmetic clean-up; the load already committed
        pass
