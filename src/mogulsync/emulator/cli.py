"""``mogulsync emulator ...``: run the local ChartMogul emulator."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from mogulsync import logs, output
from mogulsync.cli_listen import open_listener
from mogulsync.emulator.settings import (
    DEFAULT_API_KEY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RATE_LIMIT,
    EmulatorSettings,
    Faults,
    Limits,
)

#: exit status of a command given invalid options (as Click uses)
USAGE_ERROR = 2

#: Faults fields whose command-line option is named differently
_FAULT_OPTIONS = {
    "error_statuses": "--error-status",
    "latency_ms": "--fault-latency-ms / --latency-ms",
    "latency_jitter_ms": "--fault-latency-jitter-ms",
    "api_keys": "--api-key",
    "read_only_keys": "--read-only-key",
}


app = typer.Typer(help="A local ChartMogul API emulator for demos, tests and benchmarks.")


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(
        8780,
        min=0,
        max=65535,
        help="TCP port (0: a free port the OS picks; the address line shows it).",
    ),
    api_key: list[str] = typer.Option(
        [DEFAULT_API_KEY], "--api-key", help="Accepted API key (repeat for several)."
    ),
    read_only_key: list[str] = typer.Option(
        [], "--read-only-key", help="A key that may only read, writes get 403 (repeat for several)."
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
    error_rate: float = typer.Option(0, help="Fraction of requests answered with a 5xx."),
    error_status: list[int] = typer.Option(
        [500, 502, 503, 504],
        "--error-status",
        help="Status an --error-rate fault answers (repeat for several; picked at random).",
    ),
    rate_limit_rate: float = typer.Option(0, help="Fraction of requests given an extra 429."),
    drop_rate: float = typer.Option(0, help="Fraction of connections reset unanswered."),
    lost_response_rate: float = typer.Option(
        0, help="Fraction of writes committed whose response is then lost."
    ),
    error_after_write_rate: float = typer.Option(
        0,
        help="Fraction of writes committed whose response is then replaced by a 5xx"
        " (one of --error-status but 503), as from a proxy that gave up waiting.",
    ),
    fault_latency_ms: float = typer.Option(
        0, help="Extra latency fault per request (on top of --latency-ms, with jitter)."
    ),
    fault_latency_jitter_ms: float = typer.Option(0, help="Random extra on the latency fault."),
    seed: int | None = typer.Option(None, help="Seed for reproducible faults."),
    clock: str | None = typer.Option(
        None,
        help="Start with the account's clock stopped at this ISO 8601 moment with a zone"
        " (2024-03-04T09:30:00Z): every created_at/updated_at and which revenue is visible"
        " follow it; PUT /_emulator/clock moves it. Default: real time.",
    ),
) -> None:
    """Serve the ChartMogul API at http://HOST:PORT/v1 (admin API under /_emulator).

    Example: mogulsync emulator serve --port 8780 --rate-limit 0 --db emulator.sqlite
    """
    from mogulsync._listen import bound_port, url_host
    from mogulsync.emulator.server import serve

    try:
        settings = EmulatorSettings(
            api_keys=api_key,
            read_only_keys=read_only_key,
            db_path=str(db) if db else None,
            limits=Limits(
                rate_limit=rate_limit, max_connections=max_connections, latency_ms=latency_ms
            ),
            faults=Faults(
                error_rate=error_rate,
                error_statuses=error_status,
                rate_limit_rate=rate_limit_rate,
                drop_rate=drop_rate,
                lost_response_rate=lost_response_rate,
                error_after_write_rate=error_after_write_rate,
                latency_ms=fault_latency_ms,
                latency_jitter_ms=fault_latency_jitter_ms,
                seed=seed,
            ),
            clock=clock,
        )
    except ValidationError as exc:
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            # a rule across options (no field) names them in its message
            option = (
                _FAULT_OPTIONS.get(field, "--" + field.replace("_", "-")) if field else "options"
            )
            output.error(f"Invalid {option}: {problem['msg']}", exit_code=USAGE_ERROR)
        raise typer.Exit(code=USAGE_ERROR) from None
    _check_db(db)
    # bound now: the address printed below is the one served (--port 0 included)
    sock = open_listener(host, port)
    port = bound_port(sock)
    base = f"http://{url_host(host)}:{port}"
    if logs.json_mode():  # the keys stay out of log shippers (they are the --api-key values)
        logs.emit(
            "emulator_serving",
            url=f"{base}/v1",
            admin_url=f"{base}/_emulator",
            data=str(db) if db else None,  # null: in memory, as the text line says
        )
    else:
        console = output.LazyConsole()
        console.print(f"ChartMogul emulator on [bold]{base}/v1[/bold]")
        console.print(f"API key(s): {', '.join(api_key)}   (Basic auth, key as username)")
        console.print(f"Data: {db or 'in memory'}   Admin API: {base}/_emulator")
    serve(settings, host, port, sock=sock)


def _check_db(db: Path | None) -> None:
    """A --db SQLite cannot be a directory nor live in one that does not exist: say so
    before starting (SQLite's "unable to open database file" came as a traceback)."""
    if db is None:
        return
    problem = None
    if db.is_dir():
        problem = f"--db {db} is a directory; give a file, e.g. --db {db / 'emulator.sqlite'}"
    elif not db.parent.is_dir():
        problem = f"--db {db}: the directory {db.parent} does not exist; create it first"
    if problem is not None:
        output.error(problem, exit_code=USAGE_ERROR)
        raise typer.Exit(USAGE_ERROR)
