"""Retention of dlt's loaded packages in the extract's working directory.

dlt moves every package it loaded to ``<pipelines_dir>/<pipeline>/load/loaded/<load_id>/``
and never deletes it (``LOAD__DELETE_COMPLETED_JOBS`` drops only the data files): its
schema, state and job list stay, one folder per run, for ever. A service extracting
every hour would collect thousands. The latest few are kept for debugging a load.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dlt

logger = logging.getLogger(__name__)


def prune_loaded_packages(pipeline: dlt.Pipeline, keep: int) -> int:
    """Delete loaded packages but the newest ``keep``; how many were deleted.

    Never raises: a package that cannot be deleted now is tried again after the next load.
    """
    try:
        storage = pipeline._get_load_storage()  # noqa: SLF001 - dlt has no public delete
        # load ids are the Unix times the packages were created at
        loaded = sorted(storage.list_loaded_packages(), key=float)
        old = loaded[: max(len(loaded) - keep, 0)]
        for load_id in old:
            storage.delete_loaded_package(load_id)
    except Exception as exc:
        logger.warning("could not delete old dlt load packages: %s", exc)
        return 0
    return len(old)
