"""src/mogulsync/examples/mogulsync.yml (the demos' project) is a valid project file and --all
runs its syncs parents first."""

from __future__ import annotations

from pathlib import Path

from mogulsync.config import load_config
from mogulsync.sync.order import run_order

EXAMPLE = Path(__file__).resolve().parents[3] / "src" / "mogulsync" / "examples" / "mogulsync.yml"


def test_example_loads_and_orders_syncs():
    """The example loads with only the API key in the environment."""
    config = load_config(EXAMPLE, env={"CHARTMOGUL_API_KEY": "k"})
    assert config.chartmogul.base_url == "http://127.0.0.1:8780"
    assert run_order(config) == ["plans", "customers", "contacts", "invoices", "payments"]
    assert config.syncs["invoices"].line_items is not None
    assert config.sync_logs.enabled
