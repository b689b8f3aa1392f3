"""A webhook URL's path token never leaks through a receiver's error reply."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stamina
import yaml
from tests.integration.ops._support import ACCOUNTS_DDL
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.sync import exit_codes

PATH_TOKEN = "Tq7x9KzP2mWv8RbN4cYd"


class EchoingReceiver:
    """Answers every POST 404 quoting the path, as many webhook receivers do."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = f"no_such_hook: {self.path} (token {self.path.rsplit('/', 1)[-1]})"
                self.send_response(404)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def project(tmp_path, monkeypatch, emulator_server) -> Iterator[EchoingReceiver]:
    receiver = EchoingReceiver()
    make_warehouse(
        tmp_path / "w.duckdb",
        [ACCOUNTS_DDL, "insert into accounts values ('a1','Acme','a@acme.io'),('a2','B','nope')"],
    )
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "mapping": {"external_id": "id", "email": "email"}}},
        "alerts": {"channels": {"slack": {"type": "slack", "url": "${SLACK_URL}"},
                                "hook": {"type": "webhook", "url": "${HOOK_URL}"}},
                   "rules": [{"failed_rows": {"count": 1}}]},
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("SLACK_URL", f"{receiver.url}/services/T0A1/B0B2/{PATH_TOKEN}")
    monkeypatch.setenv("HOOK_URL", f"{receiver.url}/hooks/{PATH_TOKEN}?source=ms")
    with stamina.set_testing(True, attempts=1):
        yield receiver
    receiver.close()


def test_alerts_test_output_hides_the_path_token(project: EchoingReceiver) -> None:
    """The receiver's 404 quotes the path and the bare token: both are masked."""
    result = CliRunner().invoke(app, ["alerts", "test"])
    assert result.exit_code == exit_codes.FAILED, result.output
    assert "HTTP 404" in result.output
    assert PATH_TOKEN not in result.output
    assert "/services/T0A1" not in result.output


def test_run_history_hides_the_path_token(project: EchoingReceiver, tmp_path) -> None:
    """The undelivered-alert warning stored with the run is masked the same way."""
    result = CliRunner().invoke(app, ["sync", "run", "customers"])
    assert result.exit_code == exit_codes.PARTIAL, result.output
    assert "not delivered" in result.output
    assert PATH_TOKEN not in result.output
    with sqlite3.connect(tmp_path / ".mogulsync" / "runs.sqlite") as db:
        dump = "\n".join(db.iterdump())
    assert "HTTP 404" in dump
    assert PATH_TOKEN not in dump
