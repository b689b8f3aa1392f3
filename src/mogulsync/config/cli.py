"""``mogulsync init``: write a commented starter project file."""

from __future__ import annotations

from pathlib import Path

import typer

from mogulsync.cli_options import config_option


def init_command(
    warehouse: str | None = typer.Option(
        None, "--warehouse", help="Warehouse URL (duckdb:///file.duckdb, postgresql://...)."
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="ChartMogul API to call, e.g. the emulator's http://127.0.0.1:8780"
        " (default: https://api.chartmogul.com).",
    ),
    config: Path = config_option("File to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter project file (mogulsync.yml)."""
    from mogulsync.config.starter import run_init

    run_init(config, warehouse, force=force, base_url=base_url)
