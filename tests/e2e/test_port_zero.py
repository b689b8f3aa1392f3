"""`--port 0` on the three servers: documented in --help, and a bad address fails clearly.

That they serve on the port they announce is shown by the tests that start them
(test_cli_json_logs.py for all three, test_cli.py, serve/test_sigterm.py, events/).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mogulsync.cli import app


@pytest.mark.parametrize("command", [["serve"], ["events", "serve"], ["emulator", "serve"]])
def test_help_documents_port_0(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "0: a free port the OS picks" in " ".join(result.output.split())


def test_port_0_on_an_address_not_of_this_machine_fails_naming_it() -> None:
    # 192.0.2.0/24 is reserved for documentation: never a local address, no traffic sent
    result = CliRunner().invoke(app, ["emulator", "serve", "--host", "192.0.2.1", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "Cannot listen on 192.0.2.1" in " ".join(result.output.split())
    assert "Traceback" not in result.output
