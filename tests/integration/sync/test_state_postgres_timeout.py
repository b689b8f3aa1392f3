"""A shared state store whose host never answers: the run stops with a clear error.

psycopg waits 130 s per address by default, so a PostgreSQL host that is down behind a
firewall (the connection is accepted or dropped, never answered) held every run that long.
The test holds a port that accepts connections and never says a word.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mogulsync.config import AppConfig, parse_config
from mogulsync.errors import ConfigError, FatalError
from mogulsync.sync.state_open import open_lock, open_main_state
from mogulsync.testing.ports import silent_port

PASSWORD = "pw-never-shown-4711"


def _project(tmp_path: Path, port: int) -> AppConfig:
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "state_dir": str(tmp_path / "state"),
        "state_store": {
            "url": "${STATE_URL}",
            "connect_timeout_s": 2,  # libpq's minimum: the test waits this long
        },
    }
    url = f"postgresql://mogulsync:{PASSWORD}@127.0.0.1:{port}/state"
    return parse_config(raw, env={"CM_KEY": "key", "STATE_URL": url})


def test_a_silent_state_store_fails_the_lock_naming_the_host_and_the_fix(tmp_path):
    with silent_port() as port:
        config = _project(tmp_path, port)
        lock = open_lock(config, tmp_path / "state", "customers")
        with pytest.raises(FatalError) as failed:
            lock.acquire()
        error = failed.value
        assert f"PostgreSQL at 127.0.0.1:{port} did not answer within 2 s" in error.message
        assert "state_store.connect_timeout_s" in (error.hint or "")
        assert PASSWORD not in error.user_message
        # the store itself (opened by every run and `sync check`) gives up the same way
        with pytest.raises(FatalError, match=f"127.0.0.1:{port} did not answer"):
            open_main_state(config, tmp_path / "state")


def test_an_unreachable_state_store_never_shows_a_password_holding_a_slash(tmp_path, dead_port):
    """A generated (base64) password holds `/`: the URL pattern's user info stops there,
    and the "not reachable" error showed the whole password. A held port refuses at once."""
    password = "Xk9/pQ+r7Tz0s1u2v3w4=="
    raw = {"chartmogul": {"api_key": "${CM_KEY}"}, "state_store": {"url": "${STATE_URL}"}}
    url = f"postgresql://mogulsync:{password}@127.0.0.1:{dead_port}/state"
    config = parse_config(raw, env={"CM_KEY": "key", "STATE_URL": url})
    with pytest.raises(FatalError) as failed:
        open_lock(config, tmp_path / "state", "customers").acquire()
    assert "is not reachable" in failed.value.message
    assert "pQ+r7Tz0" not in failed.value.user_message


def test_the_timeout_must_be_one_libpq_honours():
    """libpq waits at least 2 s whatever it is told: a smaller value is refused, not
    silently rounded up."""
    raw = {
        "chartmogul": {"api_key": "key"},
        "state_store": {"url": "postgresql://u@db.example/state", "connect_timeout_s": 1},
    }
    with pytest.raises(ConfigError, match="connect_timeout_s"):
        parse_config(raw, env={})
