"""Extract with ChartMogul down: one clear error naming the URL, not each stream's retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from mogulsync.chartmogul import ClientSettings, RetryPolicy
from mogulsync.errors import MogulsyncError
from mogulsync.extract.runner import ExtractOptions, run_extract

FAST_RETRY = RetryPolicy(
    max_attempts=4, max_total_s=30, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01
)


def test_extract_with_chartmogul_down_fails_naming_the_url(tmp_path: Path, dead_port: int) -> None:
    base_url = f"http://127.0.0.1:{dead_port}"  # nothing listens there
    settings = ClientSettings(
        api_key=SecretStr("secret-key-123"), base_url=base_url, retry=FAST_RETRY
    )
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("customers", "plans", "invoices"),
        state_dir=tmp_path / "state",
    )
    with pytest.raises(MogulsyncError) as raised:
        run_extract(settings, options)
    message = raised.value.user_message
    assert f"ChartMogul is unreachable at {base_url}" in message
    assert "secret-key-123" not in message
