"""Outside a terminal a table row stays on one line, however long a cell is."""

from __future__ import annotations

import pytest

from mogulsync import output


def test_a_long_cell_outside_a_terminal_is_not_wrapped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    console = output.LazyConsole()  # pytest's captured stdout is no terminal
    keys = ", ".join(f"customer-{index:04d}" for index in range(60))  # ~1,000 characters
    table = output.new_table(console)
    table.add_column("change")
    table.add_column("rows", justify="right")
    table.add_column("sample")
    table.add_row("creates", "60", keys)
    table.add_row("updates", "0", "")
    output.print_table(console, table)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["change", "creates", "updates"]
    assert lines[1].endswith("customer-0059")
    assert lines[1].split(maxsplit=2)[2] == keys
