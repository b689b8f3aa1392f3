"""Guard: no test, benchmark or module probes a free port and hands the number on later.

Such a port can be taken by another process before the server binds it (a parallel test
worker, a second CI run). Servers start on port 0 and announce the port they bound
(mogulsync.testing.ports); only PostgreSQL needs a number up front, and it starts again on
a new one when its port was taken (mogulsync.testing.postgres).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.unit._source import parse

ROOT = Path(__file__).resolve().parents[2]
TREES = ("src", "tests", "bench", "scripts")
#: where binding port 0 is the point: the socket is kept (served, held) or, for PostgreSQL,
#: a taken port is retried
ALLOWED_BINDS = {
    "src/mogulsync/_listen.py",
    "src/mogulsync/testing/ports.py",
    "src/mogulsync/testing/postgres.py",
}
PROBE_NAME = re.compile(r"\bfree_port\b")
#: a loopback address on a well-known port, spelled as a place where "nothing listens":
#: something may (inetd's discard on 9, a test's own server), and then the call is answered
WELL_KNOWN_LOOPBACK = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\]):(?:[0-9]|[1-9][0-9]{1,2})\b")


def _python_files() -> list[Path]:
    return [path for tree in TREES for path in sorted((ROOT / tree).rglob("*.py"))]


def _binds_port_zero(tree: ast.AST) -> list[int]:
    """Lines calling ``X.bind((host, 0))``."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "bind"
        and node.args
        and isinstance(node.args[0], ast.Tuple)
        and len(node.args[0].elts) == 2
        and isinstance(port := node.args[0].elts[1], ast.Constant)
        and port.value == 0
    ]


def test_no_port_is_probed_and_handed_on() -> None:
    offenders: dict[str, list[int]] = {}
    for path in _python_files():
        name = path.relative_to(ROOT).as_posix()
        if name in ALLOWED_BINDS:
            continue
        text = path.read_text(encoding="utf-8")
        lines = _binds_port_zero(parse(text))
        lines += [n for n, line in enumerate(text.splitlines(), 1) if PROBE_NAME.search(line)]
        if lines and name != "tests/unit/test_no_probed_ports.py":
            offenders[name] = lines
    assert offenders == {}, (
        "start servers on port 0 and read the port they bound (mogulsync.testing.ports"
        ".announced_url, mogulsync._listen.listening_socket); hold a refused port with"
        " refused_port() / the dead_port fixture"
    )


def test_the_guard_sees_a_probe() -> None:
    probe = "with socket.socket() as s:\n    s.bind(('127.0.0.1', 0))\n"
    assert _binds_port_zero(parse(probe)) == [2]


def _well_known_loopback(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if WELL_KNOWN_LOOPBACK.search(line)]


def test_no_dead_address_is_a_well_known_port() -> None:
    offenders: dict[str, list[int]] = {}
    for path in _python_files():
        name = path.relative_to(ROOT).as_posix()
        if name.startswith("src/") or name == "tests/unit/test_no_probed_ports.py":
            continue
        if lines := _well_known_loopback(path.read_text(encoding="utf-8")):
            offenders[name] = lines
    assert offenders == {}, (
        "an address that must refuse is a port this test holds bound: the dead_port or"
        " dead_url fixture, or mogulsync.testing.ports.refused_port()"
    )


def test_the_guard_sees_a_well_known_dead_address() -> None:
    text = (
        'url = "http://127.0.0.1:9"\nok = "http://127.0.0.1:8780"\npg = "pg://u@localhost:1/db"\n'
    )
    assert _well_known_loopback(text) == [1, 3]
