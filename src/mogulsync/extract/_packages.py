"""Retention of dlt's packages in the extract's working directory.

dlt moves every package it loaded to ``<pipelines_dir>/<pipeline>/load/loaded/<load_id>/``
and never deletes it (``LOAD__DELETE_COMPLETED_JOBS`` drops only the data files): its
schema, state and job list stay, one folder per run, for ever. A service extracting
every hour would collect thousands. The latest few are kept for debugging a load.

dlt's extract step writes its package into a folder of its own,
``<pipeline>/normalize/<16 hex digits>/``, and moves it to ``normalize/extracted/`` when
the step succeeds. A step that fails (a stream failed, the run was cancelled) or a
process that died keeps that folder, with the data files written so far: one per failed
run, for ever. dlt never reads it again (a new step makes a new folder), so it is deleted.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dlt

logger = logging.getLogger(__name__)
#: the name dlt's extract step gives its own folder (``uniq_id(8)``: 8 random bytes in hex)
_STEP_FOLDER = re.compile(r"[0-9a-f]{16}")


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


def drop_unfinished_packages(pipeline: dlt.Pipeline) -> int:
    """Delete what extract steps that never finished left in ``normalize/``; how many
    folders. Call it when no extract step of this pipeline runs (one extract per
    ``state_dir`` at a time: the extract lock). Never raises, as above."""
    normalize = Path(pipeline.working_dir) / "normalize"
    try:
        left = [p for p in normalize.iterdir() if p.is_dir() and _STEP_FOLDER.fullmatch(p.name)]
        for folder in left:
            shutil.rmtree(folder)
    except FileNotFoundError:  # a first run: dlt has not made the folder yet
        return 0
    except OSError as exc:
        logger.warning("could not delete an unfinished dlt extract package: %s", exc)
        return 0
    return len(left)
