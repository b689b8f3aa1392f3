"""The web UI's sign-in, session cookie and CSRF defences, over real HTTP; no-token mode."""

from __future__ import annotations

import re

import httpx
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

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _sign_in(http: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await http.get("/login")
    csrf = CSRF.search(page.text)
    assert csrf is not None
    return await http.post("/login", data={"token": token, "csrf_token": csrf.group(1)})


async def test_sign_in_sets_a_strict_httponly_session_and_never_shows_the_token(
    emulator_server, tmp_path
):
    """The session cookie is opaque, HttpOnly and SameSite=Strict; pages never hold a token."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2))
    async with serving(config) as served:
        http = served.http
        assert (await http.get("/syncs")).headers["location"] == "/login"
        login = await http.get("/login")
        assert '<label for="token">Token</label>' in login.text
        assert ">Sign in</button>" in login.text
        wrong = await _sign_in(http, "not-the-token-at-all")
        assert wrong.headers["location"] == "/login?failed=1"
        signed = await _sign_in(http, OPERATOR)
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("mogulsync_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        assert OPERATOR not in cookie
        syncs = await http.get("/syncs")
        assert syncs.status_code == 200
        assert "customers" in syncs.text
        assert "Run now" in syncs.text
        assert OPERATOR not in syncs.text
        assert VIEWER not in syncs.text


async def test_forms_without_the_csrf_token_or_from_another_site_are_refused(
    emulator_server, tmp_path
):
    """Run now without (or with a wrong) CSRF token: 403; a foreign Origin: 403."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2))
    async with serving(config) as served:
        http = served.http
        await _sign_in(http, OPERATOR)
        page = await http.get("/syncs")
        token = CSRF.search(page.text)
        assert token is not None
        missing = await http.post("/syncs/customers/run")
        assert missing.status_code == 403
        assert "CSRF" in missing.text
        wrong = await http.post("/syncs/customers/run", data={"csrf_token": "forged"})
        assert wrong.status_code == 403
        foreign = await http.post(
            "/syncs/customers/run",
            data={"csrf_token": token.group(1)},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        # the cookie alone does not let a script call the API: it needs the header
        api = await http.post("/api/v1/syncs/customers/runs")
        assert api.status_code == 403
        assert served.app.state.manager.active == {}
        assert (await http.get("/api/v1/runs")).json() == []
        ok = await http.post("/syncs/customers/run", data={"csrf_token": token.group(1)})
        assert ok.status_code == 303
        run_id = ok.headers["location"].rsplit("/", 1)[-1]
        run = await wait_for_run(served, run_id, token=None)  # the session cookie reads
        assert run["status"] == "success"
        page = await http.get(f"/runs/{run_id}")
        assert "Live debugger" in page.text
        assert "success" in page.text


async def test_a_viewer_sees_no_operator_buttons_and_cannot_post(emulator_server, tmp_path):
    """A viewer's pages have no Run now; posting anyway is 403."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        http = served.http
        await _sign_in(http, VIEWER)
        page = await http.get("/syncs")
        assert "Run now" not in page.text
        token = CSRF.search(page.text)  # the sign-out form's token
        assert token is not None
        refused = await http.post("/syncs/customers/run", data={"csrf_token": token.group(1)})
        assert refused.status_code == 403
        out = await http.post("/logout", data={"csrf_token": token.group(1)})
        assert out.headers["location"] == "/login"
        assert (await http.get("/syncs")).status_code == 303


async def test_without_tokens_only_loopback_names_are_served(emulator_server, tmp_path):
    """No tokens: everyone on loopback is an operator; another Host name is refused."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), tokens=False)
    async with serving(config) as served:
        http = served.http
        assert (await http.get("/api/v1/syncs")).status_code == 200
        rebound = await http.get("/api/v1/syncs", headers={"Host": "evil.example:8800"})
        assert rebound.status_code == 403
        page = await http.get("/syncs")
        assert "Run now" in page.text
        forged = await http.post("/syncs/customers/run", data={"csrf_token": "x"})
        assert forged.status_code == 403
        started = await http.post("/api/v1/syncs/customers/runs")  # curl on this machine
        assert started.status_code == 202
        run = await wait_for_run(served, started.json()["run_id"], token=None)
        assert run["status"] == "success"


def test_serve_refuses_a_public_address_without_tokens(tmp_path, monkeypatch):
    """`serve --host 0.0.0.0` with no tokens exits 4 before listening."""
    config = {"chartmogul": {"api_key": "${CM_KEY}"}}
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 4
    assert "without tokens" in result.output


def test_tokens_must_come_from_the_environment(tmp_path, monkeypatch):
    """A token written in clear in the project file is refused at load (exit 4)."""
    config = {"chartmogul": {"api_key": "${CM_KEY}"},
              "serve": {"tokens": [{"token": OPERATOR, "role": "operator"}]}}  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 4
    assert "serve.tokens.0.token: secrets must come from the environment" in result.output
    assert OPERATOR not in result.output


async def test_a_link_cannot_put_its_own_words_on_a_page(emulator_server, tmp_path):
    """`?flash=` shows only the server's own messages; unknown text is ignored."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), tokens=False)
    async with serving(config) as served:
        spoof = await served.http.get("/syncs", params={"flash": "Send your token to evil"})
        assert "evil" not in spoof.text
        ours = await served.http.get("/events", params={"flash": "replayed", "n": "3"})
        assert "Replayed 3 dead letter(s)." in ours.text
