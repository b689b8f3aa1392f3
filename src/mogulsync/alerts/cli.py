"""``mogulsync alerts test``: send a test message through the configured channels."""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path

import typer

from mogulsync import exit_codes, output
from mogulsync._docs import ALERTS
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.errors import MogulsyncError
from mogulsync.messages import describe
from mogulsync.output import LazyConsole, escape

app = typer.Typer(help="Alerts after sync runs (Slack, webhook, PagerDuty, e-mail, SMS).")
_out = LazyConsole()
#: the sections this command reads: their ${ENV} references must be set
SECTIONS = ("alerts",)
#: how a delivery that reached nobody reads (httpx's and the sockets' errors, our timeout)
_UNREACHED = (
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "RemoteProtocolError",
    "no answer within",
    "OSError",
    "ConnectionRefusedError",
    "gaierror",
    "SMTPConnectError",
    "SMTPServerDisconnected",
    "TimeoutError",
)
_UNREACHED_HINT = (
    "Nothing answered there: check the channel's `url` (or `host` and `port`) and that this"
    " machine can reach it (a proxy or firewall in between?)."
)


@app.command("test")
def send_test_alert(
    config: Path = CONFIG_OPTION,
    channel: list[str] | None = typer.Option(
        None, "--channel", help="Only this channel (repeatable); default: every channel."
    ),
) -> None:
    """Send a test message through each configured alert channel and report each result."""
    from mogulsync._redact import Redactor
    from mogulsync.alerts.dispatch import AlertDispatcher
    from mogulsync.config import load_config

    try:
        project = load_config(config, sections=SECTIONS, writes_state=False)
        dispatcher = AlertDispatcher(project.alerts, Redactor())
        if not dispatcher.enabled:
            output.error(
                "no alert channels configured (alerts.channels)\n  → Add one, e.g."
                ' `alerts: {channels: {team: {type: slack, url: "${SLACK_WEBHOOK_URL}"}}}`'
                f" ({ALERTS}).",
                exit_code=exit_codes.CONFIG,
            )
            raise typer.Exit(exit_codes.CONFIG)
        _known_channels(list(project.alerts.channels), channel or [])
        results = asyncio.run(dispatcher.send_test(channel or None))
    except MogulsyncError as exc:
        output.error(describe(exc), exit_code=exit_codes.CONFIG)
        raise typer.Exit(exit_codes.CONFIG) from None
    from mogulsync.alerts.targets import describe_target

    for name, problem in results.items():
        if problem is None:
            _out.print(
                f"[green]ok[/green]   {escape(name)}: test message delivered", highlight=False
            )
            continue
        _out.print(f"[red]FAIL[/red] {escape(name)}: {escape(problem)}", highlight=False)
        # where it went (without secrets) and, when nothing answered, what to check
        _out.print(f"     to {escape(describe_target(project.alerts.channels[name]))}")
        if problem.startswith(_UNREACHED):
            _out.print(f"     → {_UNREACHED_HINT}", highlight=False)
    if any(problem is not None for problem in results.values()):
        raise typer.Exit(exit_codes.FAILED)


def _known_channels(known: list[str], asked: list[str]) -> None:
    """A --channel the project file does not have is a typo: a usage error (exit 2)."""
    unknown = [name for name in asked if name not in known]
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], known, n=1)
    guess = f" Did you mean `{close[0]}`?" if close else ""
    output.error(
        f"no alert channel named {', '.join(unknown)}.{guess}\n"
        f"  → Channels in the project file (alerts.channels): {', '.join(sorted(known))}.",
        exit_code=exit_codes.USAGE,
    )
    raise typer.Exit(exit_codes.USAGE)
