"""``mogulsync events ...``: the Segment-compatible endpoint, its status and dead letters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from mogulsync import exit_codes, logs, output
from mogulsync._docs import EVENTS_CONFIGURE
from mogulsync.cli_listen import cannot_listen
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.messages import describe

if TYPE_CHECKING:
    from mogulsync.config import AppConfig
    from mogulsync.events.queue import EventQueue

app = typer.Typer(help="Receive Segment identify/group calls and forward them to ChartMogul.")
dead_letter_app = typer.Typer(
    help="Inspect, replay and discard events that could not be delivered."
)
app.add_typer(dead_letter_app, name="dead-letter")

_REASON_WIDTH = 80
RECENT_REJECTIONS = 5
#: project-file sections these commands read; unset ${ENV} elsewhere (e.g. warehouses:) is fine
SECTIONS = ("chartmogul", "events")
console = output.LazyConsole()
#: docs/errors.md: the project file must be fixed
CONFIG_EXIT = 4


def _config(path: Path, sections: tuple[str, ...] = SECTIONS) -> AppConfig:
    from mogulsync.config import load_config

    try:
        return load_config(path, sections=sections)
    except MogulsyncError as exc:
        _fail(exc)


def _fail(exc: MogulsyncError) -> NoReturn:
    code = CONFIG_EXIT if isinstance(exc, ConfigError) else 1
    output.error(describe(exc), exit_code=code)
    raise typer.Exit(code)


def _queue_file(config: AppConfig) -> Path:
    from mogulsync.events.server import queue_path

    path = queue_path(config)
    if not path.exists():
        if not config.events.write_keys:
            # serve refuses to start (exit 4) for this: the project file must be fixed
            _fail(
                ConfigError(
                    f"no event queue at {path}",
                    hint="This project has no events: section with write_keys; add one (see"
                    f" {EVENTS_CONFIGURE}), then run `mogulsync events serve`.",
                )
            )
        _fail(MogulsyncError(f"no event queue at {path}", hint="Run `mogulsync events serve`."))
    return path


@app.command("serve")
def serve_command(
    config_path: Path = CONFIG_OPTION,
    # Rich reads "[events.host]" as markup and drops it: the defaults go in show_default.
    host: str | None = typer.Option(
        None, help="Interface to listen on.", show_default="events.host, else 127.0.0.1"
    ),
    port: int | None = typer.Option(
        None,
        min=0,
        max=65535,
        help="TCP port (0: a free port the OS picks; the address line shows it).",
        show_default="events.port, else 8790",
    ),
    forward: bool = typer.Option(
        True, "--forward/--no-forward", help="Deliver to ChartMogul (off: only store)."
    ),
) -> None:
    """Serve Segment's HTTP Tracking API (/v1/identify, /v1/group, /v1/batch, ...).

    Example: mogulsync events serve --port 8790 (then point Segment's HTTP API at it).
    """
    from mogulsync.events.server import EventsService

    config = _config(config_path, (*SECTIONS, "alerts"))  # the forwarder's alerts send
    try:
        service = EventsService(config, host=host, port=port, forward=forward)
    except MogulsyncError as exc:
        _fail(exc)
    except OSError as exc:  # the service binds its port when made
        listen_port = port if port is not None else config.events.port
        cannot_listen(host or config.events.host, listen_port, exc)
    mode = config.events.delivery if forward else "store only"
    if logs.json_mode():  # the address on stderr as a JSON object; stdout stays empty
        logs.emit(
            "events_serving", url=f"{service.base_url}/v1", delivery=mode, queue=str(service.path)
        )
    else:
        console.print(f"Segment endpoint on [bold]{service.base_url}/v1[/bold]  delivery: {mode}")
        console.print(f"Queue: {service.path}   (write key = Basic-auth username)")
    asyncio.run(service.serve())


@app.command("status")
def status_command(
    config_path: Path = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Counts of queued, delivered, rejected, skipped and dead-lettered events, and the
    forwarder's alerts (conditions open now, on which channel, since when; alerts sent)."""
    from mogulsync.events.queue import EventQueue
    from mogulsync.events.status_alerts import print_alerts, read_alerts

    config = _config(config_path)
    queue = EventQueue(_queue_file(config))
    try:
        counts = queue.counts()
        counters = queue.counters()
        age = queue.oldest_pending_age()
        rejections = [
            {"message_id": e.message_id, "type": e.type, "reason": e.reason}
            for e in queue.by_status("rejected", limit=RECENT_REJECTIONS)
        ]
        alerts = read_alerts(config, queue)
    except MogulsyncError as exc:  # e.g. an unreadable run history
        _fail(exc)
    finally:
        queue.close()
    if as_json:
        report: dict[str, Any] = {
            "events": counts,
            "counters": counters,
            "oldest_pending_age_s": age,
            "recent_rejections": rejections,
            "alerts": alerts,
        }
        typer.echo(json.dumps(report))  # every --json: JSON Lines (docs/operations.md)
        return
    table = output.new_table(console, title="Events")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in counts.items():
        table.add_row(name, str(value))
    for name, value in sorted(counters.items()):
        table.add_row(name.replace("_", " "), str(value))
    output.print_table(console, table)
    if age is not None:
        console.print(f"Oldest pending event: {age:.1f} s")
    for rejection in rejections:
        console.print(f"rejected {rejection['message_id']}: {rejection['reason']}")
    print_alerts(console, alerts)


@dead_letter_app.command("list")
def dead_letter_list(
    config_path: Path = CONFIG_OPTION,
    limit: int = typer.Option(100, min=1, help="Show at most this many (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Events that failed delivery too often (or were refused), with the reason."""
    from mogulsync.events.queue import EventQueue

    queue = EventQueue(_queue_file(_config(config_path)))
    try:
        dead = queue.by_status("dead", limit=limit)
    finally:
        queue.close()
    if as_json:
        for e in dead:  # every --json: JSON Lines, one object per dead letter
            row = {
                "seq": e.seq,
                "message_id": e.message_id,
                "type": e.type,
                "attempts": e.attempts,
                "reason": e.reason,
            }
            typer.echo(json.dumps(row))
        return
    table = output.new_table(console, title=f"Dead letters ({len(dead)})")
    for column in ("seq", "messageId", "type", "attempts", "reason"):
        table.add_column(column)
    for e in dead:
        reason = (e.reason or "")[:_REASON_WIDTH]
        table.add_row(str(e.seq), e.message_id, e.type, str(e.attempts), reason)
    output.print_table(console, table)


@dead_letter_app.command("replay")
def dead_letter_replay(
    config_path: Path = CONFIG_OPTION,
    seq: list[int] = typer.Option(
        [], "--seq", help="Replay only this dead letter (repeat for several; default: all)."
    ),
) -> None:
    """Queue dead letters for delivery again (a running `events serve` picks them up)."""
    from mogulsync.events.queue import EventQueue

    queue = EventQueue(_queue_file(_config(config_path)))
    try:
        _refuse_unknown(queue, seq, "replayed")
        replayed = queue.replay(seq or None)
    finally:
        queue.close()
    console.print(f"Replayed {replayed} dead letter(s).")


@dead_letter_app.command("discard")
def dead_letter_discard(
    config_path: Path = CONFIG_OPTION,
    seq: list[int] = typer.Option(
        [], "--seq", help="Discard only this dead letter (repeat for several)."
    ),
    discard_all: bool = typer.Option(False, "--all", help="Discard every dead letter."),
) -> None:
    """Delete dead letters for good: refusals that no replay will get through."""
    from mogulsync.events.queue import EventQueue

    if bool(seq) == discard_all:  # deleting everything must be asked for by name
        output.error(
            "give the dead letters to discard: --seq N (repeat for several) or --all\n"
            "  → `mogulsync events dead-letter list` shows the dead letters and their seq.",
            exit_code=exit_codes.USAGE,
        )
        raise typer.Exit(exit_codes.USAGE)
    queue = EventQueue(_queue_file(_config(config_path)))
    try:
        _refuse_unknown(queue, seq, "discarded")
        discarded = queue.discard(None if discard_all else seq)
    finally:
        queue.close()
    console.print(f"Discarded {discarded} dead letter(s).")


def _refuse_unknown(queue: EventQueue, seq: list[int], verb: str) -> None:
    """A --seq that is no dead letter is a typo or a stale list: say so, change nothing."""
    unknown = sorted(set(seq) - queue.dead_among(seq))
    if unknown:
        numbers = ", ".join(str(each) for each in unknown)
        output.error(
            f"no dead letter with --seq {numbers}: nothing was {verb}\n"
            "  → `mogulsync events dead-letter list` shows the dead letters and their seq.",
            exit_code=exit_codes.USAGE,
        )
        raise typer.Exit(exit_codes.USAGE)
