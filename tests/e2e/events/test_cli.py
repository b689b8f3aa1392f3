"""`mogulsync events status` and `dead-letter list|replay` on a real queue file."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner, Result

from mogulsync.cli import app
from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome
from mogulsync.events.schema import normalize


def project(tmp_path: Path, **events: object) -> Path:
    config = tmp_path / "mogulsync.yml"
    body = {
        "chartmogul": {"api_key": "${API_KEY}"},
        "state_dir": str(tmp_path / "state"),
        "events": {"write_keys": ["${WRITE_KEY}"], **events},
    }
    config.write_text(yaml.safe_dump(body))
    return config


def fill(path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    events = [
        normalize({"type": "identify", "userId": "u", "messageId": "ok"}, received_at=now),
        normalize({"type": "identify", "messageId": "noid"}, received_at=now),
        normalize(
            {"type": "group", "userId": "u", "groupId": "g", "messageId": "dead"}, received_at=now
        ),
    ]

    async def store() -> None:
        writer = GroupCommitWriter(path)
        try:
            await writer.append(events)
        finally:
            writer.close()

    asyncio.run(store())
    queue = EventQueue(path)
    dead = queue.get("dead")
    assert dead is not None
    queue.record([Outcome(dead.seq, "dead", "ValidationError: Country is invalid", attempts=1)])
    queue.close()


ENV = {"API_KEY": "k", "WRITE_KEY": "w"}


def test_status_and_dead_letters(tmp_path: Path) -> None:
    """status counts every state; dead letters are listed with reasons and replayed."""
    config = project(tmp_path)
    fill(tmp_path / "state" / "events.sqlite")
    runner = CliRunner()
    status = runner.invoke(app, ["events", "status", "-c", str(config), "--json"], env=ENV)
    assert status.exit_code == 0, status.output
    assert len(status.output.strip().splitlines()) == 1  # one JSON object, one line
    report = json.loads(status.output)
    assert report["events"] == {
        "pending": 1,
        "delivered": 0,
        "rejected": 1,
        "skipped": 0,
        "dead": 1,
    }
    assert "no_user_anon_id" in report["recent_rejections"][0]["reason"]
    table = runner.invoke(app, ["events", "status", "-c", str(config)], env=ENV)
    assert "rejected" in table.output
    listed = runner.invoke(
        app, ["events", "dead-letter", "list", "-c", str(config), "--json"], env=ENV
    )
    # every --json prints JSON Lines: one object per dead letter
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert (row["message_id"], row["reason"]) == ("dead", "ValidationError: Country is invalid")
    replay = runner.invoke(app, ["events", "dead-letter", "replay", "-c", str(config)], env=ENV)
    assert "Replayed 1" in replay.output
    after = json.loads(
        runner.invoke(app, ["events", "status", "-c", str(config), "--json"], env=ENV).output
    )
    assert after["events"]["pending"] == 2
    assert after["counters"]["replayed"] == 1


def test_serve_without_write_keys_fails_clearly(tmp_path: Path) -> None:
    """A config with no write key is refused with a message, not a traceback."""
    config = tmp_path / "mogulsync.yml"
    config.write_text(
        yaml.safe_dump({"chartmogul": {"api_key": "${API_KEY}"}, "state_dir": str(tmp_path)})
    )
    result = CliRunner().invoke(app, ["events", "serve", "-c", str(config)], env=ENV)
    assert result.exit_code == 4  # a configuration problem (docs/errors.md)
    assert "write_keys" in result.output
    assert "Traceback" not in result.output


def test_status_without_a_queue_says_so(tmp_path: Path) -> None:
    """status before any serve explains there is no queue yet."""
    result = CliRunner().invoke(app, ["events", "status", "-c", str(project(tmp_path))], env=ENV)
    assert result.exit_code == 1
    assert "no event queue" in result.output
    assert "Run `mogulsync events serve`." in result.output


def test_status_in_a_project_without_events_points_at_the_missing_section(
    tmp_path: Path,
) -> None:
    """Not "run events serve", which would refuse to start without write keys."""
    config = tmp_path / "mogulsync.yml"
    config.write_text(
        yaml.safe_dump({"chartmogul": {"api_key": "${API_KEY}"}, "state_dir": str(tmp_path)})
    )
    result = CliRunner().invoke(app, ["events", "status", "-c", str(config)], env=ENV)
    assert result.exit_code == 4  # the project file must be fixed, as `events serve` says
    text = " ".join(result.output.split())
    assert "no events: section with write_keys" in text
    assert "docs/events.md" in text


def test_dead_letters_can_be_discarded_for_good(tmp_path: Path) -> None:
    """A refusal no replay gets through can be deleted (before, only replayed, so dead
    letters piled up for as long as the server ran); all of them only when asked by name."""
    config = project(tmp_path)
    path = tmp_path / "state" / "events.sqlite"
    fill(path)
    runner = CliRunner()

    def discard(*args: str) -> Result:
        return runner.invoke(
            app, ["events", "dead-letter", "discard", "-c", str(config), *args], env=ENV
        )

    bare = discard()
    assert bare.exit_code == 2, bare.output
    assert "--seq N" in bare.output
    assert "--all" in bare.output
    queue = EventQueue(path)
    try:
        dead = queue.get("dead")
        assert dead is not None
        pending = queue.get("ok")
        assert pending is not None
    finally:
        queue.close()
    wrong = discard("--seq", str(pending.seq))  # not a dead letter: nothing changes
    assert wrong.exit_code == 2
    assert "nothing was discarded" in wrong.output
    done = discard("--seq", str(dead.seq))
    assert done.exit_code == 0, done.output
    assert "Discarded 1 dead letter(s)." in done.output
    report = json.loads(
        runner.invoke(app, ["events", "status", "-c", str(config), "--json"], env=ENV).output
    )
    assert report["events"]["dead"] == 0
    assert report["events"]["pending"] == 1  # the other events are untouched
    assert report["counters"]["discarded"] == 1
    assert "Discarded 0" in discard("--all").output
