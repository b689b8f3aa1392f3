"""``mogulsync serve`` and ``mogulsync schedule``.

Heavy imports (uvicorn, Starlette, the engines) stay inside the commands, so ``mogulsync
--help`` answers at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from mogulsync import output
from mogulsync._docs import SCHEDULES
from mogulsync.cli_listen import open_listener
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.config import AppConfig, load_config
from mogulsync.config.serve import LOOPBACK_HOSTS
from mogulsync.errors import MogulsyncError
from mogulsync.messages import describe

if TYPE_CHECKING:
    import socket

    from mogulsync.serve.app import ServeApp

#: exit code: the configuration must be fixed (as for ``sync``)
EXIT_CONFIG = 4
#: exit code: another server uses the project's state_dir
EXIT_LOCKED = 1
#: seconds open connections (a live debugger) get to finish on shutdown
GRACEFUL_S = 30
_out = output.LazyConsole()


#: `schedule` only lists when jobs run (no call, no secret used), so, like `runs list`, no
#: section's ${ENV} must be set; `serve` reads every section and needs them all
SCHEDULE_SECTIONS: tuple[str, ...] = ()


def _load(path: Path, sections: Sequence[str] | None = None) -> AppConfig:
    try:
        return load_config(path, sections=sections)
    except MogulsyncError as exc:
        output.error(describe(exc), exit_code=EXIT_CONFIG)
        raise typer.Exit(EXIT_CONFIG) from None


def serve_command(
    config: Path = CONFIG_OPTION,
    host: str | None = typer.Option(None, help="Address to listen on (default: serve.host)."),
    port: int | None = typer.Option(
        None,
        min=0,
        max=65535,
        help="Port (default: serve.port, 8800; 0: a free port the OS picks, as printed).",
    ),
) -> None:
    """Run the scheduler, the HTTP API, the web UI and the events endpoints on one port."""
    project = _load(config)
    _check_secrets(project)
    listen = host or project.serve.host
    bind_port = project.serve.port if port is None else port
    if not project.serve.tokens and listen not in LOOPBACK_HOSTS:
        output.error(
            f"refusing to listen on {listen} without tokens: anyone who can reach it could"
            " run your syncs. Add serve.tokens (as ${ENV} references) or listen on 127.0.0.1.",
            exit_code=EXIT_CONFIG,
        )
        raise typer.Exit(EXIT_CONFIG)
    # bound now: the address line shows the port actually served (--port 0 included)
    sock = open_listener(listen, bind_port)
    asyncio.run(_serve(project, listen, sock, config))


def _check_secrets(project: AppConfig) -> None:
    """Exit 4 for an empty token or write key (``${VAR:-}`` with the variable unset):
    either would let in a request that sends an empty one."""
    from mogulsync.config.events import check_write_keys
    from mogulsync.serve.auth import check_tokens

    try:
        check_tokens(project.serve.tokens)
        check_write_keys(project.events)
    except MogulsyncError as exc:
        output.error(describe(exc), exit_code=EXIT_CONFIG)
        raise typer.Exit(EXIT_CONFIG) from None


async def _serve(project: AppConfig, host: str, sock: socket.socket, path: Path) -> None:
    import logging

    from mogulsync._listen import bound_port, url_host
    from mogulsync.events.hosting import GuardedServer, connection_guard, hardened_config
    from mogulsync.serve.app import ServeApp

    logging.getLogger("stamina").setLevel(logging.ERROR)
    port = bound_port(sock)  # the one asked for, or the OS's pick for port 0
    app = ServeApp(project, config_path=path)
    try:
        app.lock.acquire()  # before the "serving" line: a second server says why it stops
    except MogulsyncError as exc:
        output.error(describe(exc), exit_code=EXIT_LOCKED)
        raise typer.Exit(EXIT_LOCKED) from None
    loop = asyncio.get_running_loop()
    hangups: set[asyncio.Task[None]] = set()

    def on_hangup() -> None:
        task = loop.create_task(_reload_on_hangup(app))
        hangups.add(task)  # kept until done: a task only the loop holds may be collected
        task.add_done_callback(hangups.discard)

    # SIGHUP reloads the project file, as daemons do (`make serve`'s wrapper turns the
    # SIGHUP it gets into a SIGTERM for this process: there it still stops the demo)
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None:
        loop.add_signal_handler(hangup, on_hangup)

    # The events endpoints may share this port: every connection gets their defences
    # (header and body timeouts, header cap, connection cap; docs/events.md).
    class Server(GuardedServer):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:  # noqa: ARG002
            # Stop runs first: open live-debugger streams end with them, so the server's
            # graceful wait for connections does not hold the runs up. The signal is not
            # raised again after the shutdown (uvicorn's default): a clean stop exits 0.
            loop.call_soon_threadsafe(app.begin_shutdown)
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C: stop waiting
            self.should_exit = True

    limits = project.events.limits
    guard = connection_guard(limits)
    server = Server(
        hardened_config(
            app,
            host=host,
            port=port,
            limits=limits,
            guard=guard,
            log_level="info",
            lifespan="on",  # the scheduler and the events forwarder run in the app's lifespan
            timeout_graceful_shutdown=GRACEFUL_S,
            server_header=False,
        ),
        guard,
    )
    mode = "tokens required" if project.serve.tokens else "no tokens: loopback only"
    jobs = len(app.jobs)
    url = f"http://{url_host(host)}:{port}"
    output.note(
        "serving",
        f"mogulsync serve on {url} ({mode}; {jobs} scheduled job(s))",
        url=url,
        tokens=bool(project.serve.tokens),
        scheduled_jobs=jobs,
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        if hangup is not None:
            loop.remove_signal_handler(hangup)


async def _reload_on_hangup(app: ServeApp) -> None:
    """SIGHUP: reload the project file; say what happened on stderr (or as JSON)."""
    import logging

    log = logging.getLogger(__name__)
    try:
        result = await app.reload()
    except Exception:  # a failed reload must not end the server
        log.exception("SIGHUP: the project file could not be reloaded")
        return
    fields = {key: value for key, value in result.as_dict().items() if key != "message"}
    if result.applied:
        output.note("reloaded", f"SIGHUP: {result.message}", **fields)
        return
    lines = [f"SIGHUP: {result.message}"]
    lines += [
        f"  - {problem.text}" + (f" (line {problem.line})" if problem.line else "")
        for problem in result.problems
    ]
    output.warning("\n".join(lines), **fields)


def _due_text(next_run_at: str | None, *, unsaved: bool) -> str:
    """The table's "next run": to the second; a job no server has planned yet runs when
    `serve` starts it (an `every` one interval later), so its time is only an example."""
    if next_run_at is None:
        return "when its parents succeed"
    text = dt.datetime.fromisoformat(next_run_at).isoformat(timespec="seconds")
    return f"{text} (if serve started now)" if unsaved else text


def schedule_command(
    config: Path = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List each scheduled sync (and the extract) with its schedule and next run."""
    from mogulsync.serve.schedule import first_run, jobs_of
    from mogulsync.serve.scheduler import SCHEDULE_FILE, ScheduleStore

    project = _load(config, SCHEDULE_SECTIONS)
    now = dt.datetime.now(dt.UTC)
    saved = Path(project.state_dir) / SCHEDULE_FILE
    store = ScheduleStore(project.state_dir) if saved.is_file() else None
    rows: list[dict[str, Any]] = []
    try:
        for job in jobs_of(project):
            known = store.load(job.name, job.schedule.model_dump_json()) if store else None
            paused = store.paused_since(job.name) if store else None
            due = known[0] if known else first_run(job, now)
            rows.append(
                {
                    "name": job.name,
                    "kind": job.kind,
                    "schedule": job.schedule.describe(),
                    # a paused job runs on no schedule until an operator resumes it
                    "next_run_at": due.isoformat() if due and paused is None else None,
                    # false: no server has planned it yet, its time is as if `serve`
                    # started now (the table says so; a script must be told too)
                    "planned": known is not None,
                    "paused_since": paused.isoformat() if paused else None,
                }
            )
    finally:
        if store is not None:
            store.close()
    unscheduled = [name for name, sync in project.syncs.items() if sync.schedule is None]
    if as_json:
        # every --json prints JSON Lines: one result, one line (docs/operations.md)
        typer.echo(json.dumps({"jobs": rows, "unscheduled": unscheduled}))
        return
    if not rows:  # a bare table header reads as "something is broken"
        output.note(
            "no_schedules",
            f"no schedules in {config}: give a sync (or `extract:`) one, e.g."
            ' `schedule: {every: 1h}`, `{cron: "0 6 * * *"}` or `{after: [customers]}`,'
            f" and `mogulsync serve` runs it; see {SCHEDULES}",
        )
    else:
        _print_schedules(rows)
    if unscheduled:
        _out.print(f"Not scheduled (run with `mogulsync sync run`): {', '.join(unscheduled)}")


def _print_schedules(rows: list[dict[str, Any]]) -> None:
    table = output.new_table(_out, title="Schedules")
    for column in ("job", "schedule", "next run (UTC)"):
        table.add_column(column)
    for row in rows:
        due_text = _due_text(row["next_run_at"], unsaved=not row["planned"])
        if row["paused_since"]:
            since = dt.datetime.fromisoformat(row["paused_since"]).isoformat(timespec="seconds")
            due_text = f"paused since {since}"
        table.add_row(row["name"], row["schedule"], due_text)
    output.print_table(_out, table)
