"""A security review of `mogulsync serve` over real HTTP: empty secrets, request bodies
a stranger can send, framing, and the secrets a page could show."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
import yaml
from tests.integration.serve._support import (
    OPERATOR,
    VIEWER,
    accounts,
    project,
    serving,
    wait_for_run,
)
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.errors import ConfigError
from mogulsync.serve.app import ServeApp

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: the request body the API and the UI take at most (docs/serve.md)
CAP = 1024 * 1024


def _empty_secret_project(tmp_path, monkeypatch, **sections) -> None:
    """A project file whose optional secrets are `${VAR:-}` with VAR unset."""
    config = {"chartmogul": {"api_key": "${CM_KEY}"}, **sections}
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    monkeypatch.setenv("OP_TOKEN", OPERATOR)
    monkeypatch.delenv("VIEW_TOKEN", raising=False)
    monkeypatch.delenv("SECOND_KEY", raising=False)


@pytest.mark.timeout(120)  # without the check, `serve` would run (and this would hang)
def test_an_empty_token_stops_serve_before_it_listens(tmp_path, monkeypatch):
    """`token: ${VIEW_TOKEN:-}` with VIEW_TOKEN unset loads as "": it matched an empty
    `Authorization: Bearer ` header and an empty sign-in, as an operator would. serve now
    exits 4 naming the entry, and the app refuses such a token too."""
    tokens = [{"token": "${OP_TOKEN}", "role": "operator"},
              {"token": "${VIEW_TOKEN:-}", "role": "viewer"}]  # fmt: skip
    _empty_secret_project(tmp_path, monkeypatch, serve={"tokens": tokens})
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 4, result.output
    assert "serve.tokens.1.token is empty" in result.output


@pytest.mark.timeout(120)
def test_an_empty_write_key_stops_serve_and_events_serve(tmp_path, monkeypatch):
    """`write_keys: ["${SECOND_KEY:-}"]` unset: a body with `"writeKey": ""` was let in."""
    monkeypatch.setenv("FIRST_KEY", "segment-write-key-first")
    events = {"write_keys": ["${FIRST_KEY}", "${SECOND_KEY:-}"]}
    _empty_secret_project(tmp_path, monkeypatch, events=events)
    for command in (["serve", "--port", "0"], ["events", "serve", "--port", "0"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 4, result.output
        assert "events.write_keys.1 is empty" in result.output


async def test_an_empty_token_never_authenticates(emulator_server, tmp_path):
    """The app itself (the library, Dagster, tests) refuses an empty token as well."""
    tokens = [{"token": "${OP_TOKEN}", "role": "operator"},
              {"token": "${UNSET_TOKEN:-}", "role": "viewer"}]  # fmt: skip
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), tokens=False,
                     serve={"tokens": tokens})  # fmt: skip
    with pytest.raises(ConfigError, match=r"serve\.tokens\.1\.token is empty"):
        ServeApp(config)


async def _raw_request(port: int, head: bytes, body_parts: list[bytes]) -> tuple[bytes, bool]:
    """Send ``head`` and the body parts over one socket, then read until the server closes
    (or answers): the response, and whether the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
            await writer.drain()
        response = await reader.read()  # the server closes after a refused body
        return response, reader.at_eof()
    finally:
        writer.close()
        await writer.wait_closed()


def _port(served) -> int:
    return int(served.base_url.rsplit(":", 1)[1])


@pytest.mark.timeout(120)  # without the cap the server waits for the whole gigabyte
async def test_a_huge_body_to_the_sign_in_form_is_refused_before_it_is_read(
    emulator_server, tmp_path
):
    """A stranger declaring a 1 GB form body gets 413 after sending 64 KB of it, and the
    connection is closed: nothing asked the server to buffer (or spool) the rest."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        for content_type in (
            b"application/x-www-form-urlencoded",
            b"multipart/form-data; boundary=x",
        ):
            head = (
                b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type
                + b"\r\nContent-Length: 1073741824\r\n\r\n"
            )  # fmt: skip
            response, closed = await _raw_request(_port(served), head, [b"token=" + b"a" * 65536])
            assert response.startswith(b"HTTP/1.1 413 "), response[:200]
            assert b"connection: close" in response.lower()
            assert closed


@pytest.mark.timeout(120)  # without the cap the server waits for the rest of the body
async def test_a_chunked_body_over_the_cap_is_refused(emulator_server, tmp_path):
    """Without a declared length the body is read up to the cap, then refused (413): one
    chunk past the cap is enough, the rest of the body is never waited for."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        chunk = b"a" * 65536
        parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (CAP // len(chunk) + 1)
        head = (
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        response, closed = await _raw_request(_port(served), head, [b"6\r\ntoken=\r\n", *parts])
        assert response.startswith(b"HTTP/1.1 413 "), response[:200]
        assert closed

        # a small chunked form still goes through (refused for its CSRF token, not its size)
        async def form() -> AsyncIterator[bytes]:
            yield b"token=x"

        small = await served.http.post(
            "/login", content=form(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert small.status_code == 403
        assert "CSRF" in small.text


async def test_api_bodies_over_the_cap_are_refused(emulator_server, tmp_path):
    """The API's bodies are small: an operator's 2 MB body is a 413, not parsed."""
    events = {"write_keys": ["${WRITE_KEY}"]}
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), events=events,
                     env={"WRITE_KEY": "segment-write-key-security"})  # fmt: skip
    async with serving(config) as served:
        seqs = b'{"seq": [' + b"1," * CAP + b"1]}"
        for path in ("/api/v1/events/dead-letters/replay", "/api/v1/syncs/customers/runs"):
            answer = await served.http.post(path, content=seqs, headers=served.bearer(OPERATOR))
            assert answer.status_code == 413, path
            assert "over 1048576 bytes" in answer.json()["error"]
        assert served.app.state.manager.active == {}


async def test_pages_and_api_answers_cannot_be_framed(emulator_server, tmp_path):
    """Without tokens a page framed by another site would post our own CSRF token from our
    own origin (clickjacking Run now): every answer forbids framing and MIME sniffing."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), tokens=False)
    async with serving(config) as served:
        for path in ("/syncs", "/login", "/api/v1/syncs", "/runs/nope", "/static/app.js"):
            answer = await served.http.get(path)
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path
            assert answer.headers["x-frame-options"] == "DENY", path
            assert answer.headers["x-content-type-options"] == "nosniff", path
        assert "access-control-allow-origin" not in answer.headers  # no CORS


SECRETS = {
    "CM_KEY_SECRET": None,  # the emulator's key, filled in below
    "PG_PASSWORD": "pg-password-0123456789",
    "SSL_PASSWORD": "ssl-password-0123456789",
    "MD_TOKEN": "motherduck-token-0123456789",
    "SLACK_URL": "https://hooks.slack.example/services/T0000/B0000/slacktoken0123456789",
    "PD_KEY": "pagerduty-routing-key-0123456789",
    "WRITE_KEY": "segment-write-key-0123456789",
}


async def test_no_page_or_api_answer_shows_a_configured_secret(
    emulator_server, tmp_path, dead_port
):
    """Every page and every GET of the API, with a run in the history, holds none of the
    API key, tokens, write key, alert channel secrets or passwords in database URLs. The
    Extract page showed a destination's credential query parameters
    (`?sslpassword=`, `motherduck_token=`): it masked only the user-info password."""
    env = {key: value for key, value in SECRETS.items() if value}
    extract = {"destination": f"postgresql://etl:${{PG_PASSWORD}}@127.0.0.1:{dead_port}/cm"
                              "?sslpassword=${SSL_PASSWORD}&motherduck_token=${MD_TOKEN}"}  # fmt: skip
    alerts = {"channels": {"team": {"type": "slack", "url": "${SLACK_URL}"},
                           "oncall": {"type": "webhook", "format": "pagerduty",
                                      "routing_key": "${PD_KEY}"}}}  # fmt: skip
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2), extract=extract,
                     alerts=alerts, events={"write_keys": ["${WRITE_KEY}"]}, env=env,
                     schedule={"every": "1h"})  # fmt: skip
    secrets = [*env.values(), emulator_server.api_key, OPERATOR, VIEWER]
    async with serving(config) as served:
        http = served.http
        page = await http.get("/login")
        token = CSRF.search(page.text)
        assert token is not None
        await http.post("/login", data={"token": OPERATOR, "csrf_token": token.group(1)})
        started = await http.post("/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR))
        run_id = started.json()["run_id"]
        await wait_for_run(served, run_id)
        paths = [
            "/syncs", "/runs", f"/runs/{run_id}", "/runs?sync=customers",
            "/syncs/customers/preview", "/syncs/customers/reconcile", "/events", "/extract",
            "/metrics", "/api/v1/syncs", "/api/v1/runs", f"/api/v1/runs/{run_id}",
            f"/api/v1/runs/{run_id}/errors", f"/api/v1/runs/{run_id}/requests",
            f"/api/v1/runs/{run_id}/requests/stream", "/api/v1/syncs/customers/alerts",
            "/api/v1/schedules", "/api/v1/extract/runs", "/api/v1/extract/alerts",
            "/api/v1/events/status", "/api/v1/events/alerts", "/api/openapi.json",
        ]  # fmt: skip
        for path in paths:
            answer = await http.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            for secret in secrets:
                assert secret not in answer.text, (path, secret)
        extract_page = (await http.get("/extract")).text
        assert "postgresql://" in extract_page  # the destination is shown, masked
        assert "sslpassword=***" in extract_page


async def test_the_extract_page_masks_a_destination_password_holding_a_slash(
    emulator_server, tmp_path, dead_port
):
    """A generated (base64) password holds `/`, which SQLAlchemy reads in a URL as it is.
    The Extract page masked the destination with the URL pattern alone, whose user info
    stops at the first `/`: the whole password was shown. It masks what SQLAlchemy reads."""
    password = "Xk9/pQ+r7Tz0s1u2v3w4=="
    extract = {"destination": f"postgresql://etl:${{PG_PASSWORD}}@127.0.0.1:{dead_port}/cm"}
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), extract=extract,
                     env={"PG_PASSWORD": password})  # fmt: skip
    async with serving(config) as served:
        login = await served.http.get("/login")
        token = CSRF.search(login.text)
        assert token is not None
        form = {"token": VIEWER, "csrf_token": token.group(1)}
        await served.http.post("/login", data=form)
        page = await served.http.get("/extract")
    assert page.status_code == 200, page.text[:300]
    assert "postgresql://" in page.text  # the destination is shown, masked
    assert password not in page.text
    assert "pQ+r7Tz0s1u2v3w4" not in page.text


async def test_api_bodies_of_the_wrong_shape_are_400s(emulator_server, tmp_path):
    """JSON nested past the parser's depth, a seq that is no queue seq, a seq list given as
    a string (read as its digits: "12" replayed seqs 1 and 2): 400, never a 500 or a
    replay of other dead letters."""
    events = {"write_keys": ["${WRITE_KEY}"]}
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), events=events,
                     env={"WRITE_KEY": "segment-write-key-security"}, tokens=False)  # fmt: skip
    async with serving(config) as served:
        http = served.http
        deep = b"[" * 100_000 + b"]" * 100_000
        replay = "/api/v1/events/dead-letters/replay"
        for path, body in [
            ("/api/v1/syncs/customers/runs", deep),
            (replay, deep),
            (replay, b'{"seq": "12"}'),
            (replay, b'{"seq": [99999999999999999999999]}'),
            (replay, b'{"seq": [1e308]}'),
            (replay, b'{"seq": [1.5]}'),
            (replay, b'{"seq": [true]}'),
            (replay, b'{"seq": [0]}'),
            (replay, b"[1, 2]"),
        ]:
            answer = await http.post(path, content=body)
            assert answer.status_code == 400, (path, body[:40], answer.text[:200])
            assert "error" in answer.json()
        assert (await http.post(replay, content=b'{"seq": [1, 2]}')).json() == {"replayed": 0}
        assert (await http.post(replay, content=b"")).json() == {"replayed": 0}
        assert served.app.state.manager.active == {}
        page = await http.get("/syncs")
        csrf = CSRF.search(page.text)
        assert csrf is not None
        for seq in ("abc", "99999999999999999999999", "-5", "\uff11"):  # a fullwidth 1
            form = await http.post("/events/replay", data={"csrf_token": csrf.group(1), "seq": seq})
            assert form.status_code == 400, seq
        ok = await http.post("/events/replay", data={"csrf_token": csrf.group(1), "seq": "3"})
        assert ok.status_code == 303


async def test_the_session_cookie_is_secure_behind_a_tls_proxy(emulator_server, tmp_path):
    """The server speaks plain http behind the TLS proxy docs/serve.md asks for: the proxy's
    `X-Forwarded-Proto: https` (or `Forwarded: proto=https`) marks both cookies Secure.
    Before, only the server's own scheme counted, never https: the cookie was never Secure."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        http = served.http
        for proxy in ({"X-Forwarded-Proto": "https"}, {"Forwarded": "for=10.0.0.1;proto=https"}):
            page = await http.get("/login", headers=proxy)
            assert "; secure" in page.headers["set-cookie"].lower()
            csrf = CSRF.search(page.text)
            assert csrf is not None
            signed = await http.post(
                "/login", data={"token": VIEWER, "csrf_token": csrf.group(1)},
                headers={**proxy, "Cookie": f"mogulsync_login={page.cookies['mogulsync_login']}"},
            )  # fmt: skip
            assert signed.status_code == 303, signed.text
            cookie = signed.headers["set-cookie"]
            assert cookie.startswith("mogulsync_session=")
            assert "; secure" in cookie.lower()
        http.cookies.clear()
        plain = await http.get("/login")
        assert "secure" not in plain.headers["set-cookie"].lower()


async def test_a_flash_count_that_is_no_number_is_ignored(emulator_server, tmp_path):
    """`?n=` is shown only as a plain count: "²" passed `isdigit()` and failed `int()` (a
    500), as did a number of thousands of digits."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), tokens=False)
    async with serving(config) as served:
        for count in ("\u00b2", "9" * 5000):
            page = await served.http.get("/events", params={"flash": "replayed", "n": count})
            assert page.status_code == 200
            assert "Replayed 0 dead letter(s)." in page.text
