"""``mogulsync emulator ...``: run the local ChartMogul emulator."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from mogulsync.emulator.settings import (
    DEFAULT_API_KEY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RATE_LIMIT,
    EmulatorSettings,
    Faults,
    Limits,
)

app = typer.Typer(help="A local ChartMogul API emulator for demos, tests and benchmarks.")


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8780, help="TCP port."),
    api_key: list[str] = typer.Option(
        [DEFAULT_API_KEY], "--api-key", help="Accepted API key (repeat for several)."
    ),
    read_only_key: list[str] = typer.Option(
        [], "--read-only-key", help="A key that may only read (writes get 403)."
    ),
    db: Path | None = typer.Option(
        None, help="SQLite file to keep data across restarts (default: in memory)."
    ),
    rate_limit: float = typer.Option(
        DEFAULT_RATE_LIMIT, help="Requests per second per account (0 = unlimited)."
    ),
    max_connections: int = typer.Option(
        DEFAULT_MAX_CONNECTIONS, help="Requests in flight before 503 (0 = unlimited)."
    ),
    latency_ms: float = typer.Option(0, help="Latency added to every /v1 response."),
    error_rate: float = typer.Option(0, help="Fraction of requests answered 500/502/503/504."),
    rate_limit_rate: float = typer.Option(0, help="Fraction of requests given an extra 429."),
    drop_rate: float = typer.Option(0, help="Fraction of connections reset unanswered."),
    lost_response_rate: float = typer.Option(
        0, help="Fraction of writes committed whose response is then lost."
    ),
    seed: int | None = typer.Option(None, help="Seed for reproducible faults."),
) -> None:
    """Serve the ChartMogul API at http://HOST:PORT/v1 (admin API under /_emulator)."""
    from mogulsync.emulator.server import serve

    settings = EmulatorSettings(
        api_keys=api_key,
        read_only_keys=read_only_key,
        db_path=str(db) if db else None,
        limits=Limits(
            rate_limit=rate_limit, max_connections=max_connections, latency_ms=latency_ms
        ),
        faults=Faults(
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            drop_rate=drop_rate,
            lost_response_rate=lost_response_rate,
            seed=seed,
        ),
    )
    console = Console()
    console.print(f"ChartMogul emulator on [bold]http://{host}:{port}/v1[/bold]")
    console.print(f"API key(s): {', '.join(api_key)}   (Basic auth, key as username)")
    console.print(f"Data: {db or 'in memory'}   Admin API: http://{host}:{port}/_emulator")
    serve(settings, host, port)
