"""The settings editor: the project file over the API and on the Settings pages, who may
read and edit it, CSRF, the hash that stops a stale save (409), the atomic write keeping
the file's mode, the history of versions with Revert, and secrets written in clear: never
shown, never saved, never kept. Real serve over loopback."""

from __future__ import annotations

import re
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest
from tests.integration.serve._support import OPERATOR, VIEWER, accounts, serving
from tests.integration.serve.test_project_reload import ADMIN, env, raw_project, write

from mogulsync.config import ConfigValidationError, load_config
from mogulsync.serve.project import HISTORY_FILE, KEEP_VERSIONS

pytestmark = pytest.mark.anyio
__all__ = ["env"]  # the fixture, shared
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HASH = re.compile(r'name="hash" value="([^"]+)"')
SECRET = "sk_live_0123456789abcdefLITERAL"


async def _signed_in(http: httpx.AsyncClient, token: str) -> str:
    """Sign in; the CSRF token the pages carry."""
    login = await http.get("/login")
    found = CSRF.search(login.text)
    assert found is not None
    await http.post("/login", data={"token": token, "csrf_token": found.group(1)})
    page = CSRF.search((await http.get("/syncs")).text)
    assert page is not None
    return page.group(1)


def _project(emulator_server, tmp_path: Path, *, mode: int = 0o640) -> Path:
    path = tmp_path / "project" / "mogulsync.yml"
    path.parent.mkdir()
    write(path, raw_project(emulator_server, tmp_path, accounts(tmp_path, 1)))
    path.chmod(mode)
    return path


async def test_roles_read_and_edit(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    async with serving(load_config(path), config_path=path) as served:
        viewer, operator, admin = (served.bearer(t) for t in (VIEWER, OPERATOR, ADMIN))
        assert (await served.http.get("/api/v1/project", headers=viewer)).status_code == 403
        read = await served.http.get("/api/v1/project", headers=operator)
        assert read.status_code == 200
        body = read.json()
        assert body["text"] == path.read_text()
        assert body["literal_secrets"] == []
        assert body["applied"] is True
        versions = await served.http.get("/api/v1/project/versions", headers=viewer)
        assert versions.status_code == 403
        edited = body["text"].replace("data_source: Serve", "data_source: Edited")
        change = {"text": edited, "hash": body["hash"]}
        for refused in (viewer, operator):
            put = await served.http.put("/api/v1/project", json=change, headers=refused)
            assert put.status_code == 403
            check = await served.http.post(
                "/api/v1/project/validate", json={"text": edited}, headers=refused
            )
            assert check.status_code == 403
        assert path.read_text() == body["text"]
        saved = await served.http.put("/api/v1/project", json=change, headers=admin)
        assert saved.status_code == 200, saved.text
        assert saved.json()["reload"]["applied"] is True
        assert path.read_text() == edited
        assert served.app.state.config.syncs["customers"].data_source == "Edited"
        now = (await served.http.get("/api/v1/project", headers=operator)).json()
        assert now["applied"] is True
        assert now["hash"] == saved.json()["hash"]

        # the pages: a viewer has no Settings; an operator reads; an admin edits
        page = await served.http.get("/settings", headers=viewer)
        assert page.status_code == 403
        assert ">Settings</a>" not in (await served.http.get("/syncs", headers=viewer)).text
        page = await served.http.get("/settings", headers=operator)
        assert page.status_code == 200
        assert ">Settings</a>" in page.text
        assert "readonly" in page.text
        assert "data_source: Edited" in page.text
        assert 'value="save"' not in page.text
        versions_page = await served.http.get("/settings/versions", headers=operator)
        assert "Revert to this version" not in versions_page.text
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser:
            csrf = await _signed_in(browser, OPERATOR)
            refused = await browser.post(
                "/settings", data={"csrf_token": csrf, "text": edited, "action": "validate"}
            )
            assert refused.status_code == 403


async def test_validate_save_and_csrf_on_the_page(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    async with (
        serving(load_config(path), config_path=path) as served,
        httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser,
    ):
        csrf = await _signed_in(browser, ADMIN)
        page = await browser.get("/settings")
        assert page.status_code == 200
        assert 'value="save"' in page.text
        assert "readonly" not in page.text
        sha = HASH.search(page.text)
        assert sha is not None
        broken = path.read_text().replace("object: customer", "object: nosuch")
        form = {"text": broken, "hash": sha.group(1), "action": "validate"}
        without = await browser.post("/settings", data=form)
        assert without.status_code == 403  # no CSRF token
        checked = await browser.post("/settings", data={**form, "csrf_token": csrf})
        assert checked.status_code == 200
        assert "syncs.customers.object" in checked.text
        assert "object: nosuch" in checked.text  # the admin's text is kept to fix
        line = broken.splitlines().index("    object: nosuch") + 1
        assert f"line {line}</span>" in checked.text
        refused = await browser.post(
            "/settings", data={**form, "csrf_token": csrf, "action": "save"}
        )
        assert refused.status_code == 422
        assert "nothing was saved" in refused.text
        assert "object: nosuch" not in path.read_text()

        # CRLF from the browser's textarea: the file keeps plain newlines
        good = path.read_text().replace("data_source: Serve", "data_source: Paged")
        saved = await browser.post("/settings", data={
                "text": good.replace("\n", "\r\n"), "hash": sha.group(1),
                "action": "save", "csrf_token": csrf,
            })  # fmt: skip
        assert saved.status_code == 200
        assert "Saved. Project file reloaded" in saved.text
        assert path.read_text() == good
        reload = await browser.post("/settings/reload", data={"csrf_token": csrf})
        assert "no sync or schedule changed" in reload.text
        assert (await browser.post("/settings/reload")).status_code == 403


async def test_a_stale_hash_is_a_409_and_overwrites_nothing(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    async with serving(load_config(path), config_path=path) as served:
        admin = served.bearer(ADMIN)
        opened = (await served.http.get("/api/v1/project", headers=admin)).json()
        on_disk = opened["text"].replace("data_source: Serve", "data_source: OnDisk")
        path.write_text(on_disk)  # someone edits the file meanwhile
        mine = opened["text"].replace("data_source: Serve", "data_source: Mine")
        stale = await served.http.put(
            "/api/v1/project", json={"text": mine, "hash": opened["hash"]}, headers=admin
        )
        assert stale.status_code == 409
        assert "changed on disk since" in stale.json()["error"]
        assert path.read_text() == on_disk
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser:
            csrf = await _signed_in(browser, ADMIN)
            form = {"text": mine, "hash": opened["hash"], "action": "save", "csrf_token": csrf}
            page = await browser.post("/settings", data=form)
            assert page.status_code == 409
            assert "changed on disk since" in page.text
            assert "data_source: Mine" in page.text  # the admin's text, to carry over
        assert path.read_text() == on_disk


async def test_the_write_is_atomic_keeps_the_mode_and_the_history_with_revert(
    emulator_server, tmp_path, env
):
    path = _project(emulator_server, tmp_path, mode=0o640)
    original = path.read_text()
    async with serving(load_config(path), config_path=path) as served:
        admin = served.bearer(ADMIN)
        sha = (await served.http.get("/api/v1/project", headers=admin)).json()["hash"]
        texts = [original.replace("data_source: Serve", f"data_source: V{i}") for i in range(22)]
        for text in texts:
            saved = await served.http.put(
                "/api/v1/project", json={"text": text, "hash": sha}, headers=admin
            )
            assert saved.status_code == 200, saved.text
            sha = saved.json()["hash"]
        assert path.read_text() == texts[-1]
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert sorted(p.name for p in path.parent.iterdir()) == ["mogulsync.yml"]  # no temp
        versions = (await served.http.get("/api/v1/project/versions", headers=admin)).json()
        assert len(versions) == KEEP_VERSIONS
        assert versions[0]["current"] is True
        assert versions[0]["by"] == {"role": "admin", "remote": "127.0.0.1"}
        assert versions[0]["diff"] == ""
        oldest = versions[-1]  # the file on disk before the first save was dropped by now
        assert "-    data_source: V2\n+    data_source: V21\n" in oldest["diff"]
        one = await served.http.get(f"/api/v1/project/versions/{oldest['id']}", headers=admin)
        assert one.json()["text"] == texts[2]
        assert (
            await served.http.get("/api/v1/project/versions/0", headers=admin)
        ).status_code == 404

        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser:
            csrf = await _signed_in(browser, ADMIN)
            page = await browser.get("/settings/versions")
            assert page.status_code == 200
            assert f'action="/settings/versions/{oldest["id"]}/revert"' in page.text
            assert "saved by admin from 127.0.0.1" in page.text
            form = {"csrf_token": csrf, "hash": sha}
            reverted = await browser.post(f"/settings/versions/{oldest['id']}/revert", data=form)
            assert reverted.status_code == 200
            assert f"Version {oldest['id']} restored" in reverted.text
            assert path.read_text() == texts[2]
            assert served.app.state.config.syncs["customers"].data_source == "V2"
            gone = await browser.post(f"/settings/versions/{oldest['id']}/revert", data=form)
            assert gone.status_code == 404  # the revert was kept: the oldest one went
            again = await browser.post(f"/settings/versions/{versions[5]['id']}/revert", data=form)
            assert again.status_code == 409  # the page's hash is no longer the file's
            assert path.read_text() == texts[2]


async def test_a_secret_in_clear_is_never_shown_saved_or_kept(
    emulator_server, tmp_path, env, monkeypatch
):
    path = _project(emulator_server, tmp_path)
    clean = path.read_text()
    async with serving(load_config(path), config_path=path) as served:
        admin = served.bearer(ADMIN)
        # edited on disk with the key written in clear, and a password in a URL
        leaked = clean.replace("${CM_KEY}", SECRET).replace(
            "duckdb:///", f"postgresql://etl:{SECRET}@db.internal/warehouse#"
        )
        path.write_text(leaked)
        read = await served.http.get("/api/v1/project", headers=admin)
        assert read.status_code == 200
        assert read.json()["text"] is None
        assert read.json()["literal_secrets"] == ["chartmogul.api_key", "warehouses.main"]
        assert SECRET not in read.text
        page = await served.http.get("/settings", headers=admin)
        assert SECRET not in page.text
        assert "chartmogul.api_key" in page.text
        assert "to enable editing" in page.text
        assert "<textarea" not in page.text
        versions = await served.http.get("/settings/versions", headers=admin)
        assert SECRET not in versions.text
        listed = await served.http.get("/api/v1/project/versions", headers=admin)
        assert SECRET not in listed.text
        over = await served.http.put(
            "/api/v1/project", json={"text": clean, "hash": read.json()["hash"]}, headers=admin
        )
        assert over.status_code == 409  # not written over what nobody could see
        assert path.read_text() == leaked
        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.status_code == 422
        assert SECRET not in reloaded.text

        # back to a clean file: a save bringing a new secret in clear is refused
        path.write_text(clean)
        sha = (await served.http.get("/api/v1/project", headers=admin)).json()["hash"]
        for secret_text in (
            clean.replace("${CM_KEY}", "${CM_KEY:-" + SECRET + "}"),  # a default is in the file
            clean.replace("- token: ${VIEW_TOKEN}", f"- token: {SECRET}"),
            clean + f"apikey: {SECRET}\n",  # a typo's key, still a secret
        ):
            refused = await served.http.put(
                "/api/v1/project", json={"text": secret_text, "hash": sha}, headers=admin
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["literal_secrets"]
            assert "to enable editing" in refused.json()["error"]
            assert SECRET not in refused.text
            checked = await served.http.post(
                "/api/v1/project/validate", json={"text": secret_text}, headers=admin
            )
            assert checked.json()["valid"] is False
            assert SECRET not in checked.text
        assert path.read_text() == clean
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser:
            csrf = await _signed_in(browser, ADMIN)
            form = {"text": clean.replace("${CM_KEY}", SECRET), "hash": sha, "csrf_token": csrf}
            for action in ("validate", "save"):
                page = await browser.post("/settings", data={**form, "action": action})
                assert SECRET not in page.text
                assert "chartmogul.api_key" in page.text
        saved = await served.http.put(
            "/api/v1/project",
            json={"text": clean.replace("Serve", "Clean"), "hash": sha},
            headers=admin,
        )
        assert saved.status_code == 200
    history = (tmp_path / "state" / HISTORY_FILE).read_bytes()
    assert SECRET.encode() not in history
    db = sqlite3.connect(tmp_path / "state" / HISTORY_FILE)
    try:
        assert db.execute("SELECT count(*) FROM versions").fetchone() == (2,)
    finally:
        db.close()


async def test_no_tokens_everyone_is_admin_and_the_page_renders(emulator_server, tmp_path, env):
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    del raw["serve"]
    write(path, raw)
    async with serving(load_config(path), config_path=path) as served:
        page = await served.http.get("/settings")
        assert page.status_code == 200
        assert '<span class="who">admin</span>' in page.text
        assert 'value="save"' in page.text
        assert "<textarea" in page.text
        csrf = CSRF.search(page.text)
        assert csrf is not None
        sha = HASH.search(page.text)
        assert sha is not None
        form = {"text": path.read_text(), "hash": sha.group(1), "action": "save"}
        assert (await served.http.post("/settings", data=form)).status_code == 403
        saved = await served.http.post("/settings", data={**form, "csrf_token": csrf.group(1)})
        assert saved.status_code == 200
        cross = await served.http.post(
            "/api/v1/project/reload", headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403


async def test_a_server_without_a_project_file_says_so(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    async with serving(load_config(path)) as served:  # no config_path (as the tests build it)
        answer = await served.http.get("/api/v1/project", headers=served.bearer(ADMIN))
        assert answer.status_code == 404
        assert "not started from a project file" in answer.json()["error"]
        page = await served.http.get("/settings", headers=served.bearer(ADMIN))
        assert "not started from a project file" in page.text


ODD_BODIES = [
    b"", b"{", b"\xff\xfe", b"[]", b"null", b'{"text": 1, "hash": "x"}',
    b'{"text": "\\u0000", "hash": "x"}', b'{"text": "\\ud800", "hash": "x"}',
    b'{"text": "a: &a [*a]", "hash": "x"}', b'{"text": "--- 1\\n--- 2\\n", "hash": "x"}',
    b'{"text": "' + b"[" * 5000 + b'", "hash": "x"}', b'{"text": "- 1", "hash": "x"}',
]  # fmt: skip


async def test_odd_requests_get_no_5xx(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    before = path.read_text()
    async with serving(load_config(path), config_path=path) as served:
        admin = served.bearer(ADMIN)
        answers = []
        for body in ODD_BODIES:
            for method, url in (("PUT", "/api/v1/project"), ("POST", "/api/v1/project/validate"),
                                ("POST", "/api/v1/project/reload")):  # fmt: skip
                answer = await served.http.request(method, url, content=body, headers=admin)
                answers.append((method, url, body[:40], answer.status_code))
        for version in ("0", "-1", "9" * 5000, "x", "%00"):
            answer = await served.http.post(f"/settings/versions/{version}/revert", headers=admin)
            answers.append(("POST", "revert", version[:10], answer.status_code))
        for query in ("", "?flash=x"):
            for page in ("/settings", "/settings/versions"):
                answer = await served.http.get(page + query, headers=admin)
                answers.append(("GET", page, query, answer.status_code))
        assert [a for a in answers if a[3] >= 500] == []
        assert path.read_text() == before


async def test_validate_warns_of_mappings_that_do_not_fit_the_model(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    async with serving(load_config(path), config_path=path) as served:
        text = path.read_text().replace("name: name", "name: no_such_column")
        checked = await served.http.post(
            "/api/v1/project/validate", json={"text": text}, headers=served.bearer(ADMIN)
        )
        body = checked.json()
        assert body["valid"] is True  # serve would start with it; its run would fail
        (warning,) = body["warnings"]
        assert warning["path"] == "syncs.customers.mapping.name"
        assert "no column `no_such_column`" in warning["message"]
        assert text.splitlines()[warning["line"] - 1].strip() == "name: no_such_column"
        page = await served.http.post(
            "/settings",
            data={"text": text, "action": "validate"},
            headers=served.bearer(ADMIN),
        )
        assert "Warnings (1)" in page.text
        assert "syncs.customers.mapping.name" in page.text


def _chattr(flag: str, path: Path) -> bool:
    """``chattr FLAG PATH``; whether it worked."""
    import subprocess

    try:
        return subprocess.run(["chattr", flag, str(path)], check=False).returncode == 0
    except FileNotFoundError:
        return False


async def test_a_directory_that_cannot_be_written_saves_nothing(emulator_server, tmp_path, env):
    path = _project(emulator_server, tmp_path)
    before = path.read_text()
    # immutable: refused even to root (a test machine's user); where chattr is not there
    # or the file system has no such flag, there is nothing to test
    if not _chattr("+i", path.parent):
        pytest.skip("chattr +i is not available here")
    try:
        async with serving(load_config(path), config_path=path) as served:
            admin = served.bearer(ADMIN)
            sha = (await served.http.get("/api/v1/project", headers=admin)).json()["hash"]
            text = before.replace("data_source: Serve", "data_source: Nope")
            refused = await served.http.put(
                "/api/v1/project", json={"text": text, "hash": sha}, headers=admin
            )
            assert refused.status_code == 422
            assert "cannot be written" in refused.json()["error"]
            assert served.app.state.config.syncs["customers"].data_source == "Serve"
    finally:
        assert _chattr("-i", path.parent)
    assert path.read_text() == before
    history = tmp_path / "state" / HISTORY_FILE
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


async def test_a_reload_checks_as_the_start_does_while_the_editor_hides_a_default_secret(
    emulator_server, tmp_path, env
):
    """``${CM_KEY:-sk_live...}`` starts serve (the variable is set), so a reload applies it
    too; the editor still shows no such file, since the default is a key in clear."""
    path = _project(emulator_server, tmp_path)
    async with serving(load_config(path), config_path=path) as served:
        admin = served.bearer(ADMIN)
        text = path.read_text().replace("${CM_KEY}", "${CM_KEY:-" + SECRET + "}")
        path.write_text(text.replace("data_source: Serve", "data_source: Defaulted"))
        load_config(path)  # what the start accepts ...
        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.status_code == 200  # ... a reload accepts
        assert served.app.state.config.syncs["customers"].data_source == "Defaulted"
        shown = await served.http.get("/api/v1/project", headers=admin)
        assert shown.json()["literal_secrets"] == ["chartmogul.api_key"]
        assert SECRET not in shown.text


async def test_a_secret_in_a_key_written_twice_is_never_shown_saved_or_kept(
    emulator_server, tmp_path, env
):
    """YAML keeps the last of a key written twice (the loader refuses that now, but the
    file on disk may be edited into it) or merged in and written again: the editor looks
    at every value, not the one kept."""
    path = _project(emulator_server, tmp_path)
    clean = path.read_text()
    twice = clean.replace("api_key: ${CM_KEY}", f"api_key: {SECRET}\n  api_key: ${{CM_KEY}}")
    merged = (  # a merge key's value written again: the merged one is in the file too
        clean.replace("chartmogul:\n", "chartmogul:\n  <<: {api_key: " + SECRET + "}\n", 1)
    )
    path.write_text(merged)
    load_config(path)  # what serve starts with
    path.write_text(twice)
    with pytest.raises(ConfigValidationError, match="written twice"):
        load_config(path)  # the loader refuses a key written twice
    path.write_text(merged)
    async with serving(load_config(path), config_path=path) as served:
        admin, operator = served.bearer(ADMIN), served.bearer(OPERATOR)
        for text in (twice, merged):
            path.write_text(text)
            read = await served.http.get("/api/v1/project", headers=operator)
            assert read.status_code == 200
            assert read.json()["text"] is None
            assert read.json()["literal_secrets"] == ["chartmogul.api_key"]
            assert SECRET not in read.text
            assert SECRET not in (await served.http.get("/settings", headers=operator)).text
        path.write_text(clean)
        sha = (await served.http.get("/api/v1/project", headers=admin)).json()["hash"]
        for text in (twice, merged):
            refused = await served.http.put(
                "/api/v1/project", json={"text": text, "hash": sha}, headers=admin
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["literal_secrets"] == ["chartmogul.api_key"]
            assert SECRET not in refused.text
        assert path.read_text() == clean
        saved = await served.http.put(
            "/api/v1/project",
            json={"text": clean.replace("Serve", "Clean"), "hash": sha},
            headers=admin,
        )
        assert saved.status_code == 200
    assert SECRET.encode() not in (tmp_path / "state" / HISTORY_FILE).read_bytes()


async def test_a_file_on_disk_that_is_not_yaml_is_not_shown_kept_or_written_over(
    emulator_server, tmp_path, env
):
    """Edited on disk into broken YAML (or two documents) with a key in a reference's
    default above the break: where its secrets are cannot be told, so it is not shown to
    anyone, not kept in the history, and not written over."""
    path = _project(emulator_server, tmp_path)
    clean = path.read_text()
    with_default = clean.replace("${CM_KEY}", "${CM_KEY:-" + SECRET + "}")
    async with serving(load_config(path), config_path=path) as served:
        admin, operator = served.bearer(ADMIN), served.bearer(OPERATOR)
        for broken in (with_default + "oops: [\n", with_default + "---\nmore: 1\n"):
            path.write_text(broken)
            read = await served.http.get("/api/v1/project", headers=operator)
            assert read.status_code == 200
            assert read.json()["text"] is None
            assert "cannot be read" in read.json()["message"]
            assert SECRET not in read.text
            page = await served.http.get("/settings", headers=admin)
            assert SECRET not in page.text
            assert "<textarea" not in page.text
            for listed in ("/settings/versions", "/api/v1/project/versions"):
                assert SECRET not in (await served.http.get(listed, headers=operator)).text
            over = await served.http.put(
                "/api/v1/project",
                json={"text": clean, "hash": read.json()["hash"]},
                headers=admin,
            )
            assert over.status_code == 409, over.text  # not written over what nobody saw
            assert SECRET not in over.text
            assert path.read_text() == broken
    history = tmp_path / "state" / HISTORY_FILE
    assert not history.exists() or SECRET.encode() not in history.read_bytes()


async def test_a_windows_file_saved_from_the_page_keeps_its_line_endings(
    emulator_server, tmp_path, env
):
    """A browser sends CRLF whatever the file had: a file written with CRLF stays so, and
    the version kept before the save differs from it by the line edited, not every line."""
    path = _project(emulator_server, tmp_path)
    windows = path.read_text().replace("\n", "\r\n")
    path.write_bytes(windows.encode())
    async with (
        serving(load_config(path), config_path=path) as served,
        httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser,
    ):
        csrf = await _signed_in(browser, ADMIN)
        sha = HASH.search((await browser.get("/settings")).text)
        assert sha is not None
        edited = windows.replace("data_source: Serve", "data_source: Paged")
        saved = await browser.post("/settings", data={
                "text": edited, "hash": sha.group(1), "action": "save", "csrf_token": csrf,
            })  # fmt: skip
        assert saved.status_code == 200, saved.text
        assert path.read_bytes() == edited.encode()
        listed = await served.http.get("/api/v1/project/versions", headers=served.bearer(ADMIN))
        found = {item["by"]["role"]: item["diff"] for item in listed.json()}
        changed = [
            line
            for line in found["on disk"].splitlines()
            if line[:1] in "+-" and line[:3] not in ("+++", "---")
        ]
        assert changed == ["-    data_source: Serve", "+    data_source: Paged"]
