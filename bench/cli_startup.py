"""CLI start-up: wall time of everyday commands, this tree against an earlier commit.

    .venv/bin/python bench/cli_startup.py [--baseline 2e16c3b] [--repeat 7]

Each command runs as a fresh process (``python -m mogulsync ...``), ``--repeat`` times; the
median wall time is printed for the baseline commit's code (extracted with ``git archive``
and put first on ``PYTHONPATH``, same interpreter and libraries), for this tree, and for
``python -c pass`` (the interpreter alone), all measured in the same run. ``sync plan`` reads
a 10-row DuckDB model and asks an emulator on loopback (in this process) for the data source;
``check`` and ``sync run`` use the same project (the warm-up run creates the 10 customers, so
the timed runs find nothing to send). Goals (issue 11): every ``--help`` and ``runs list``
≤ 0.3 s, ``sync plan`` ≤ 1.0 s. ``--baseline`` a commit before a change to see what it gains
(e.g. the quick exit of every one-shot command: CPU time shows it, the machine is shared).

Bytecode is cached as after ``pip install`` (which compiles it): the children run without
``PYTHONDONTWRITEBYTECODE`` and an untimed warm-up run writes the ``.pyc`` files. Without a
cache every start compiles each imported module again, which is a set-up problem, not the
CLI's start-up.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import duckdb

from mogulsync.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
COMMANDS: dict[str, tuple[list[str], float]] = {
    "--help": (["--help"], 0.3),
    "sync --help": (["sync", "--help"], 0.3),
    "sync plan --help": (["sync", "plan", "--help"], 0.3),
    "runs list": (["runs", "list"], 0.3),
    "sync plan (10 rows)": (["sync", "plan", "customers"], 1.0),
    # no goal of issue 11: shown for the quick exit (each run after the warm-up is a no-op)
    "check": (["check"], 1.0),
    "sync run (10 rows)": (["sync", "run", "customers"], 1.0),
}
PROJECT = """\
chartmogul:
  api_key: ${{BENCH_KEY}}
  base_url: {base_url}
state_dir: state
warehouses:
  main: duckdb:///warehouse.duckdb
models:
  accounts: {{warehouse: main, table: accounts, primary_key: id}}
syncs:
  customers:
    model: accounts
    object: customer
    data_source: bench
    mapping: {{external_id: id}}
"""


def write_project(folder: Path, base_url: str) -> None:
    """A 10-row DuckDB model and a project file syncing it as customers."""
    db = duckdb.connect(str(folder / "warehouse.duckdb"))
    db.execute(
        "create table accounts as select 'acct-' || i as id, 'Company ' || i as name,"
        " 'c' || i || '@example.com' as email from range(10) t(i)"
    )
    db.close()
    (folder / "mogulsync.yml").write_text(PROJECT.format(base_url=base_url), encoding="utf-8")


def extract_baseline(ref: str, folder: Path) -> Path:
    """The baseline commit's ``src`` (no worktree registered, nothing installed)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(argv: list[str], env: dict[str, str], cwd: Path, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``argv`` (an untimed warm-up run fills the OS caches).

    CPU time (user + system of the process) is printed beside wall time because the
    machine is shared: other work inflates wall time, not the CPU a start-up costs.
    """
    walls, cpus = [], []
    for attempt in range(repeat + 1):
        cpu = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{argv} failed ({done.returncode}):\n{done.stderr.decode()}")
        if attempt:
            walls.append(elapsed)
            cpus.append(_children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="2e16c3b", help="commit to compare against")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with EmulatorServer() as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_project(folder, server.base_url)
        old_src = extract_baseline(args.baseline, folder / "baseline")
        env = {**os.environ, "BENCH_KEY": server.api_key, "COLUMNS": "120"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        old_env = {**env, "PYTHONPATH": str(old_src)}
        python = [sys.executable]
        wall, cpu = measure([*python, "-c", "pass"], env, folder, args.repeat)
        print(f"python -c pass: {wall:.3f} s wall, {cpu:.3f} s CPU (medians of {args.repeat})")
        print(
            f"{'command':<21} {'wall: ' + args.baseline:>14} {'now':>6} {'ratio':>6}"
            f"  {'CPU: ' + args.baseline:>13} {'now':>6} {'ratio':>6}  goal (wall)"
        )
        for label, (argv, goal) in COMMANDS.items():
            command = [*python, "-m", "mogulsync", *argv]
            wall_before, cpu_before = measure(command, old_env, folder, args.repeat)
            wall_after, cpu_after = measure(command, env, folder, args.repeat)
            verdict = "met" if wall_after <= goal else "not met"
            print(
                f"{label:<21} {wall_before:>13.2f}s {wall_after:>5.2f}s"
                f" {wall_before / wall_after:>5.1f}x  {cpu_before:>12.2f}s {cpu_after:>5.2f}s"
                f" {cpu_before / cpu_after:>5.1f}x  {goal:.1f} s {verdict}"
            )


if __name__ == "__main__":
    main()
