"""Alerts after real runs, delivered over real HTTP and SMTP to local receivers."""

from __future__ import annotations

import json

import duckdb
import pytest
import stamina
from tests.integration.ops._receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    HttpReceiver,
    SmtpReceiver,
    every_channel,
)
from tests.integration.ops._support import ACCOUNTS_DDL, ops_project
from tests.integration.sync._support import engine, make_warehouse

from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio

SLACK_TOKEN = "T0001/B0002/slack-token-secret"
PD_KEY = "pd-routing-key-secret"


@pytest.fixture(autouse=True)
def _fast_retries():
    with stamina.set_testing(True, attempts=2):
        yield


@pytest.fixture
def http():
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp():
    with SmtpReceiver() as receiver:
        yield receiver


def _channels(http, smtp):
    alerts = {
        "channels": every_channel(smtp.port),
        "rules": [{"failed_rows": {"count": 1}}],
        "timeout_s": 2,
    }
    env = {
        "SLACK_URL": f"{http.url}/slack/{SLACK_TOKEN}",
        "HOOK_URL": f"{http.url}/hook",
        "PD_URL": f"{http.url}/pd",
        "PD_KEY": PD_KEY,
        "SMTP_PASSWORD": SMTP_PASSWORD,
    }
    return alerts, env


async def test_failed_rows_alert_then_recovery_on_every_channel(
    emulator_server, tmp_path, http, smtp
):
    """Too many failed rows alerts all four channels; the next healthy run announces recovery."""
    api_key = emulator_server.api_key
    path = tmp_path / "w.duckdb"
    url = make_warehouse(
        path,
        [
            ACCOUNTS_DDL,
            f"insert into accounts values ('a1','Acme','a@acme.io'), ('a2','Leaky','{api_key}')",
        ],
    )
    alerts, env = _channels(http, smtp)
    config = ops_project(emulator_server, tmp_path, url, env=env, alerts=alerts)

    failing = await engine(config).run("customers")
    assert (failing.status.value, failing.rows.failed) == ("partial", 1)
    assert failing.message is None  # every alert was delivered

    slack = http.bodies(f"/slack/{SLACK_TOKEN}")
    assert len(slack) == 1
    assert "customers" in slack[0]["text"]
    assert "1 of 2 rows failed" in slack[0]["text"]
    blocks = json.dumps(slack[0]["blocks"])
    assert f"mogulsync runs show {failing.run_id} --errors" in blocks
    assert "a2" in blocks
    assert "email" in blocks

    [hook] = http.bodies("/hook")
    assert (hook["event"], hook["sync"], hook["run_id"]) == (
        "failed_rows",
        "customers",
        failing.run_id,
    )
    assert hook["rows"]["failed"] == 1
    assert hook["rows"]["succeeded"] == 1
    assert hook["errors"][0]["key"] == "a2"
    assert hook["errors"][0]["field"] == "email"
    assert hook["duration_s"] >= 0

    [incident] = http.bodies("/pd")
    assert incident["event_action"] == "trigger"
    assert incident["routing_key"] == PD_KEY
    assert incident["dedup_key"] == "mogulsync/customers"
    assert incident["payload"]["severity"] == "error"
    assert incident["payload"]["custom_details"]["run_id"] == failing.run_id

    [mail] = smtp.messages
    assert smtp.inbox.logins == [SMTP_USER]
    assert mail["To"] == "data-team@example.com"
    assert mail["From"] == "mogulsync@example.com"
    assert mail["Date"] is not None
    assert mail["Message-ID"].endswith("@example.com>")
    assert "customers" in mail["Subject"]
    body = mail.get_payload(decode=True).decode()
    assert f"mogulsync runs show {failing.run_id} --errors" in body

    # The invalid email held the API key: no message may carry it, nor any channel secret.
    everything = json.dumps(http.posts) + mail.as_string()
    assert "***" in everything  # the key was there, masked
    assert api_key not in everything
    assert SLACK_TOKEN not in json.dumps([body for _path, body in http.posts])
    assert SMTP_PASSWORD not in everything
    assert PD_KEY not in json.dumps(incident["payload"])

    with duckdb.connect(str(path)) as db:
        db.execute("update accounts set email = 'b@leaky.io' where id = 'a2'")
    healthy = await engine(config).run("customers")
    assert healthy.status.value == "success"
    assert "recovered" in http.bodies(f"/slack/{SLACK_TOKEN}")[1]["text"]
    assert http.bodies("/hook")[1]["event"] == "recovered"
    resolve = http.bodies("/pd")[1]
    assert resolve == {
        "routing_key": PD_KEY,
        "event_action": "resolve",
        "dedup_key": "mogulsync/customers",
    }
    assert "recovered" in smtp.messages[1]["Subject"]

    quiet = await engine(config).run("customers")
    assert quiet.status.value == "success"
    assert len(http.posts) == 6  # a healthy run after a healthy run stays quiet
    assert len(smtp.messages) == 2


async def test_failed_run_alerts_and_an_unreachable_channel_is_only_a_warning(
    emulator_server, tmp_path, dead_port
):
    """A failed run alerts; a channel that is down adds a warning and changes nothing else."""
    url = make_warehouse(
        tmp_path / "w.duckdb", [ACCOUNTS_DDL, "insert into accounts values ('a1','Acme',null)"]
    )
    dead = f"http://127.0.0.1:{dead_port}/nobody-listens"
    with HttpReceiver(fail_first=1) as http:
        config = ops_project(
            emulator_server,
            tmp_path,
            url,
            sync={"data_source": "ds_00000000-0000-0000-0000-000000000000"},
            env={"UP": f"{http.url}/up", "DOWN": dead},
            alerts={
                "channels": {
                    "up": {"type": "webhook", "url": "${UP}"},
                    "down": {"type": "webhook", "url": "${DOWN}"},
                },
                "timeout_s": 1,
            },
        )
        record = await engine(config).run("customers")
        posts = http.bodies("/up")
        attempts = http.attempts
    assert record.status.value == "failed"
    assert record.message is not None
    first_line, *warnings = record.message.splitlines()
    assert "data source ds_00000000-0000-0000-0000-000000000000 not found" in first_line
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: alert to channel `down` not delivered")
    assert dead not in record.message
    assert [body["event"] for body in posts] == ["failed"]  # delivered on the second attempt
    assert attempts == 2
    assert posts[0]["message"] == first_line
    store = RunStore(config.state_dir)
    try:
        assert store.get(record.run_id).message == record.message
    finally:
        store.close()


async def test_rules_choose_syncs_and_channels(emulator_server, tmp_path):
    """Each rule alerts only its own channels, on its own triggers."""
    url = make_warehouse(
        tmp_path / "w.duckdb", [ACCOUNTS_DDL, "insert into accounts values ('a1','Acme','bad')"]
    )
    with HttpReceiver() as http:
        raw_syncs_rule = {
            "syncs": ["customers"],
            "channels": ["one"],
            "failed_rows": {"percent": 50},
        }
        config = ops_project(
            emulator_server,
            tmp_path,
            url,
            env={"ONE": f"{http.url}/one", "TWO": f"{http.url}/two"},
            alerts={
                "channels": {
                    "one": {"type": "webhook", "url": "${ONE}"},
                    "two": {"type": "webhook", "url": "${TWO}"},
                },
                "rules": [raw_syncs_rule, {"syncs": ["customers"], "on_failure": False}],
            },
        )
        record = await engine(config).run("customers")
        # its only row was invalid: the run completed (partial), so rule one's failed_rows
        # threshold speaks, and the rule alerting on failure only stays quiet
        assert record.status.value == "partial"
        assert [body["event"] for body in http.bodies("/one")] == ["failed_rows"]
        assert http.bodies("/two") == []
