"""Guard: every httpx call of the tests over a socket states its timeout.

httpx's default is 5 s per request: on a loaded CI machine an emulator or a server under
test can take longer than that to answer, and the test fails for a reason that is not a
defect. The suite's waits are safety nets for stuck conditions (docs/testing.md), so a
call names a timeout of that kind. A call with ``transport=`` (an in-process ASGI app)
opens no socket and is left alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit._source import parse

ROOT = Path(__file__).resolve().parents[2]
TREES = ("tests", "src/mogulsync/testing")
#: httpx's module-level requests and its clients
CALLS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream"}
    | {"Client", "AsyncClient"}
)
#: where the timeout comes from, when not a ``timeout=`` keyword
EXEMPT_KEYWORDS = frozenset({"timeout", "transport"})


def _untimed_calls(tree: ast.AST) -> list[int]:
    """Lines of ``httpx.<call>(...)`` with neither ``timeout=`` nor ``transport=``."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "httpx"
        and node.func.attr in CALLS
        # ``**options`` may carry the timeout: not judged here
        and not any(k.arg is None or k.arg in EXEMPT_KEYWORDS for k in node.keywords)
    ]


def test_every_http_call_of_the_tests_names_its_timeout() -> None:
    offenders: dict[str, list[int]] = {}
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if lines := _untimed_calls(parse(path.read_text(encoding="utf-8"))):
                offenders[path.relative_to(ROOT).as_posix()] = lines
    assert offenders == {}, "pass timeout= (e.g. 30): httpx's default of 5 s fails under load"


def test_the_guard_sees_an_untimed_call() -> None:
    source = (
        "httpx.get(url)\n"
        "httpx.get(url, timeout=30)\n"
        "with httpx.Client(base_url=url) as c: pass\n"
        "httpx.AsyncClient(transport=t)\n"
    )
    assert _untimed_calls(parse(source)) == [1, 3]
