"""A model's SQL made fit for a subquery: what is trimmed, and that plain SQL costs no
tokenizer import (``sync plan`` of a small model stays quick)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mogulsync.warehouse.model_sql import subquery_sql


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1", "select 1\n"),
        ("select 1;", "select 1\n"),
        ("select 1; /* done */", "select 1\n"),
        ("select 1 -- last", "select 1\n"),
        ("select 1\n-- trailing comment", "select 1\n"),
        ("select 'a--b' as x", "select 'a--b' as x\n"),
        ("select 'a;b' as x", "select 'a;b' as x\n"),
        ("select 1 /* kept */", "select 1 /* kept */\n"),
    ],
)
def test_the_tail_is_trimmed_and_nothing_else(sql: str, expected: str) -> None:
    assert subquery_sql(sql, "duckdb") == expected


def test_plain_sql_does_not_import_the_tokenizer() -> None:
    code = (
        "import sys\n"
        "from mogulsync.warehouse.model_sql import subquery_sql\n"
        "assert subquery_sql('select id from accounts') == 'select id from accounts\\n'\n"
        "print('sqlglot' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
