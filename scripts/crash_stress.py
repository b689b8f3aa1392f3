"""Stress the exactly-once guarantee: many kill -9 trials of `mogulsync sync run --all`.

    .venv/bin/python scripts/crash_stress.py [--trials 100] [--seed 1]

Starts an emulator process, builds a warehouse, kills the CLI at random instants, re-runs,
and compares ChartMogul's state with the model (no duplicates, nothing lost).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.sync._crash import (
    build_project,
    chartmogul_state,
    expected_state,
    gated_emulator,
    trials,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, gated_emulator() as (server, gate):
        workdir = Path(tmp)
        build_project(workdir)
        killed = trials(workdir, server, gate, args.trials, args.seed)
        state = chartmogul_state(server.base_url, server.api_key)
    problems = []
    for kind, wanted in expected_state().items():
        counts = state[kind]
        missing = wanted - set(counts)
        extra = set(counts) - wanted
        duplicates = sorted(key for key, n in counts.items() if n > 1)
        if missing or extra or duplicates:
            problems.append(f"{kind}: missing {sorted(missing)[:5]} extra {sorted(extra)[:5]}"
                            f" duplicates {duplicates[:5]}")  # fmt: skip
    print(f"{args.trials} trials, {killed} killed mid-run")
    for problem in problems:
        print("FAIL", problem)
    if not problems:
        print("OK: every row exactly once")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
