"""`--port 0` on the three servers: documented in --help, and a bad address fails clearly.

That they serve on the port they announce is shown by the tests that start them
(test_cli_json_logs.py for all three, test_cli.py, serve/test_sigterm.py, events/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mogulsync.cli import app

ENV = {"K": "k" * 20, "W": "w" * 20, "T": "t" * 32}


@pytest.mark.parametrize("command", [["serve"], ["events", "serve"], ["emulator", "serve"]])
def test_help_documents_port_0(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "0: a free port the OS picks" in " ".join(result.output.split())


def test_an_address_not_of_this_machine_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = {
        "chartmogul": {"api_key": "${K}"},
        "state_dir": str(tmp_path / "state"),
        "events": {"write_keys": ["${W}"]},
        "serve": {"tokens": [{"token": "${T}", "role": "operator"}]},
    }
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(project), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # 192.0.2.0/24 is reserved for documentation: never a local address, no traffic sent
    for command in (["emulator", "serve"], ["serve"], ["events", "serve"]):
        for port in ("0", "8799"):  # the same failure, the same exit (docs/errors.md)
            args = [*command, "--host", "192.0.2.1", "--port", port]
            result = CliRunner().invoke(app, args, env=ENV)
            assert result.exit_code == 1, (args, result.output)
            text = " ".join(result.output.split())
            assert f"cannot listen on 192.0.2.1:{port}" in text, text
            assert "not one of this machine's: check --host" in text, text
            assert "Traceback" not in result.output
