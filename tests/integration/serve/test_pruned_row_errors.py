"""The run page and the API of a run whose row errors the retention deleted say so.

With ``run_history.keep_errors_days`` a run older than that keeps its counts (3 failed)
but loses its row errors: the run page said "Row errors (0)" and "No row errors." under
"failed 3", and ``/errors`` answered ``[]``, as for a run that had none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.test_pruned_row_errors import ERRORS, _history
from tests.integration.serve._support import VIEWER, accounts, project, serving

pytestmark = pytest.mark.anyio


async def test_the_run_page_and_api_name_row_errors_the_retention_deleted(
    emulator_server, tmp_path: Path
) -> None:
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    old, latest = _history(Path(config.state_dir))
    async with serving(config) as served:
        auth = served.bearer(VIEWER)
        page = await served.http.get(f"/runs/{old}", headers=auth)
        errors = await served.http.get(f"/api/v1/runs/{old}/errors", headers=auth)
        run = await served.http.get(f"/api/v1/runs/{old}", headers=auth)
        kept = await served.http.get(f"/api/v1/runs/{latest}", headers=auth)
        kept_page = await served.http.get(f"/runs/{latest}", headers=auth)
    text = " ".join(page.text.split())
    assert "No row errors" not in text
    assert f"{ERRORS} row errors of this run were deleted" in text
    assert "keep_errors_days" in text
    assert (errors.status_code, errors.json()) == (200, [])
    assert errors.headers["X-Row-Errors-Deleted"] == str(ERRORS)
    assert run.json()["row_errors_deleted"] == ERRORS
    assert kept.json()["row_errors_deleted"] == 0
    assert "were deleted" not in kept_page.text
    assert kept_page.text.count('class="row-error"') == ERRORS
