"""A test session leaves no temporary directory of its own behind.

Each test process makes a private rate-pacing directory (``tests/conftest.py``); before,
none was removed, and the suite's runs on one machine had left 3,600 of them in /tmp
(575 MB). A short inner session, with ``TMPDIR`` pointed at a fresh directory, shows
what a session leaves there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: one small test file for the inner session, collected only (any would do)
INNER = "tests/unit/test_errors.py"


def test_a_session_removes_its_rate_pacing_directory(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("MOGULSYNC_RATE_LIMIT_FILE", None)
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", INNER, "--collect-only", "-q", "-p", "no:randomly", "-p", "no:xdist",
         "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "inner")],
        cwd=root, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert inner.returncode == 0, inner.stdout + inner.stderr
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("mogulsync-")) == []
