"""SMS alerts through Twilio's Messages API, received by a local server checking the request.

The receiver accepts a request only as Twilio documents it: ``POST
/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP basic auth ``AccountSid:AuthToken``,
an ``application/x-www-form-urlencoded`` body with ``To``, ``From`` and ``Body``; it answers
``201`` with a message resource, as Twilio does.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs

import pytest
import stamina
from tests.integration.ops._support import ACCOUNTS_DDL, ops_project
from tests.integration.sync._support import engine, make_warehouse

from mogulsync._redact import Redactor
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.config import parse_config
from mogulsync.errors import ConfigError

pytestmark = pytest.mark.anyio

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-do-not-leak"
FROM = "+15005550006"
TO = ["+14155550100", "+442071838750"]


class TwilioReceiver:
    """Twilio's Messages endpoint, strict about the documented request; 500 ``fail_first`` times."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.messages: list[dict[str, str]] = []
        self.refused: list[str] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                problem = receiver.check(self.path, dict(self.headers), body)
                if problem:
                    receiver.refused.append(problem)
                    self._answer(400, {"code": 20001, "message": problem})
                    return
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self._answer(503, {"message": "try again"})
                    return
                form = {key: values[0] for key, values in parse_qs(body).items()}
                receiver.messages.append(form)
                self._answer(201, {"sid": f"SM{len(receiver.messages):032d}", "status": "queued",
                                   "to": form["To"], "from": form["From"], "body": form["Body"]})  # fmt: skip

            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def check(path: str, headers: dict[str, str], body: str) -> str | None:
        """Why Twilio would refuse this request, or None."""
        if path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            return f"wrong path {path}"
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if headers.get("Authorization") != expected:
            return "authentication failed"
        if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return f"not form-encoded: {headers.get('Content-Type')}"
        form = parse_qs(body, strict_parsing=True)
        if set(form) != {"To", "From", "Body"} or any(len(v) != 1 for v in form.values()):
            return f"unexpected parameters {sorted(form)}"
        return None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(autouse=True)
def _fast_retries():
    with stamina.set_testing(True, attempts=3):
        yield


def _alerts(url: str) -> dict[str, object]:
    channel = {"type": "sms", "account_sid": SID, "auth_token": "${TWILIO_AUTH_TOKEN}",
               "from": FROM, "to": TO, "api_url": url}  # fmt: skip
    return {"channels": {"phones": channel}, "rules": [{"failed_rows": {"count": 1}}]}


async def test_failed_rows_text_every_number_as_twilio_documents(emulator_server, tmp_path):
    """A partial run texts each number once, exactly as Twilio's API wants; no secret leaks."""
    api_key = emulator_server.api_key
    url = make_warehouse(tmp_path / "w.duckdb", [
        ACCOUNTS_DDL,
        f"insert into accounts values ('a1','Acme','a@acme.io'), ('a2','Leaky','{api_key}')",
    ])  # fmt: skip
    with TwilioReceiver(fail_first=1) as twilio:
        config = ops_project(emulator_server, tmp_path, url, env={"TWILIO_AUTH_TOKEN": TOKEN},
                             alerts=_alerts(twilio.url))  # fmt: skip
        record = await engine(config).run("customers")
    assert (record.status.value, record.message) == ("partial", None)
    assert twilio.refused == []
    assert [m["To"] for m in twilio.messages] == TO  # the 503 was retried, nothing doubled
    assert {m["From"] for m in twilio.messages} == {FROM}
    body = twilio.messages[0]["Body"]
    assert "customers" in body
    assert "1 of 2 rows failed" in body
    assert f"mogulsync runs show {record.run_id}" in body
    assert api_key not in body
    assert TOKEN not in body


async def test_a_refused_login_is_a_warning_without_the_token(tmp_path):
    """Twilio refusing the credentials is reported per channel; the token is never quoted."""
    with TwilioReceiver() as twilio:
        channel = _alerts(twilio.url)
        config = parse_config(
            {"chartmogul": {"api_key": "${K}"}, "alerts": channel},
            env={"K": "k" * 20, "TWILIO_AUTH_TOKEN": "wrong-" + TOKEN},
        )
        dispatcher = AlertDispatcher(config.alerts, Redactor())
        results = await dispatcher.send_test()
    assert twilio.messages == []
    assert twilio.refused == ["authentication failed"]
    assert "HTTP 400" in (results["phones"] or "")
    assert TOKEN not in (results["phones"] or "")


def test_the_auth_token_must_come_from_the_environment():
    """An auth token written in clear, a bad SID or a number not in E.164 fail at load."""
    channel = {"type": "sms", "account_sid": "AC123", "auth_token": TOKEN,
               "from": "5550006", "to": ["+14155550100"]}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"chartmogul": {"api_key": "${K}"}, "alerts": {"channels": {"p": channel}}},
            env={"K": "k" * 20},
        )
    text = str(caught.value)
    assert "alerts.channels.p.auth_token: secrets must come from the environment" in text
    assert "account_sid" in text
    assert "from" in text
    assert TOKEN not in text
