"""The package is typed (py.typed) for its users' type checkers, not only for ours.

This repository's mypy runs with pydantic's plugin. A user's usually does not (and pyright
has no plugins): they read a model's defaults from ``dataclass_transform``, which knows
``Field(default=...)`` and not ``Field(40.0)``. So the README's quick start, type-checked
in a user's project, failed: ``Missing named argument "rate_limit" for "ClientSettings"``
(and ``max_in_flight``, ``log_body_limit``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "mogulsync"
#: a generous bound on one mypy run (never asserted as speed)
MYPY_S = 300


def _positional_field_defaults() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.extend(
            f"{path.relative_to(ROOT)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Field"
            and node.args
        )
    return found


def test_every_field_default_is_a_keyword() -> None:
    """``Field(default=40.0)``: a type checker without pydantic's plugin sees the default."""
    assert _positional_field_defaults() == []


def test_the_readme_quick_start_type_checks_without_the_pydantic_plugin(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start against the emulator", 1)[1]
    (script,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:1]
    (tmp_path / "quick_start.py").write_text(script, encoding="utf-8")
    (tmp_path / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")  # a user's: no plugins
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "mypy.ini",
         "--cache-dir", str(tmp_path / "cache"), "quick_start.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=MYPY_S, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
