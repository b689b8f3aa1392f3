"""``mogulsync extract run`` as the installed command runs it: the load happens in a process
forked at start (``extract/loader_process.py``). It must load what loading in the
command's own process loads (``MOGULSYNC_EXTRACT_LOADER=inline``), fail the same way, and
leave no process behind, however the command ends.

Every command here is a real ``python -m mogulsync`` process against a loopback emulator.
Waits for a process to appear or go are bounded liveness checks, never speed assertions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from tests.integration.extract._runs import FIRST, LATER, import_more
from tests.integration.extract._seed import FIRST_DAY, Seeded

from mogulsync import exit_codes
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.loader_process import SWITCH_ENV

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the loader process is forked on Linux only"
)

#: generous bound on one command, and on a process appearing or ending (liveness only)
TIMEOUT_S = 180
MARK_ENV = "MOGULSYNC_TEST_LOADER_MARK"
INLINE = {SWITCH_ENV: "inline"}


def _project(root: Path, server: EmulatorServer) -> Path:
    config = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url, "rate_limit": 2000},
        "state_dir": str(root / "state"),
    }
    path = root / "mogulsync.yml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def _args(root: Path, server: EmulatorServer, streams: str, *more: str) -> list[str]:
    project = _project(root, server)
    destination = f"duckdb:///{root}/cm.duckdb"
    return [
        sys.executable,
        "-m",
        "mogulsync",
        "extract",
        "run",
        "-c",
        str(project),
        "--streams",
        streams,
        "--destination",
        destination,
        "--json",
        *more,
    ]


def _env(server: EmulatorServer, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != SWITCH_ENV}
    return {**env, "CM_KEY": server.api_key, **(extra or {})}


def _run(
    args: list[str], server: EmulatorServer, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
        env=_env(server, extra),
    )


def _rows(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows, without dlt's own columns (load ids differ per run)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'chartmogul' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\'"
        ).fetchall()
        for (name,) in names:
            columns = [
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'chartmogul' AND table_name = ? ORDER BY column_name",
                    [name],
                ).fetchall()
                if not row[0].startswith("_dlt")
            ]
            listed = ", ".join(f'"{column}"' for column in columns)
            query = f'SELECT {listed} FROM chartmogul."{name}"'
            tables[name] = sorted(con.execute(query).fetchall(), key=repr)
    return tables


def _records(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    report = json.loads(result.stdout)
    return {name: stream["records"] for name, stream in report["streams"].items()}


def _error_line(stderr: str) -> str:
    """The command's error, without the file path of the run (it differs per run)."""
    return " ".join(stderr.split())


def _processes_with(mark: str) -> list[int]:
    """Live processes whose environment holds ``MARK_ENV=mark`` (the command, its loader)."""
    found = []
    needle = f"{MARK_ENV}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def _command(args: list[str], env: dict[str, str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """The command in a session of its own. Whatever the test asserts, the session is
    killed at the end: a failing test must not leave a command waiting for ever on a
    stopped or hung loader. Checks that nothing is left belong inside the block."""
    with subprocess.Popen(args, env=env, start_new_session=True, text=True, **popen) as command:
        try:
            yield command
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(command.pid, signal.SIGKILL)  # the command and its loader
            command.wait()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def slow_server(server: EmulatorServer) -> EmulatorServer:
    """The emulator holding every answer 30 s: a run is caught in the middle of its fetch."""
    limits = f"{server.base_url}/_emulator/limits"
    httpx.patch(limits, json={"latency_ms": 30_000}, timeout=30).raise_for_status()
    return server


def _in_flight(server: EmulatorServer) -> int:
    stats = httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()
    return int(stats["in_flight"])


def test_the_loader_process_loads_what_the_command_itself_loads(
    seeded: tuple[EmulatorServer, Seeded], tmp_path: Path
) -> None:
    """Every stream, incremental (merged and replaced tables, states): the same rows and
    the same report as a run loading in the command's own process."""
    server, _ = seeded
    streams = "customers,plans,contacts,activities,subscription_events,customer_count"
    forked = _run(_args(tmp_path / "forked", server, streams), server)
    inline = _run(_args(tmp_path / "inline", server, streams), server, INLINE)

    assert forked.returncode == 0, forked.stderr
    assert inline.returncode == 0, inline.stderr
    assert _records(forked) == _records(inline)
    assert _records(forked)["customers"] > 0
    assert _rows(tmp_path / "forked" / "cm.duckdb") == _rows(tmp_path / "inline" / "cm.duckdb")


def test_a_second_run_continues_from_the_states_the_loader_read(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The states are read by the loader process (dlt) and reach the command's fetch: the
    second run reads only what was added since, and the tables hold everything."""
    args = _args(tmp_path, server, "activities,subscription_events")
    first = _run(args, server)
    assert first.returncode == 0, first.stderr
    assert _records(first) == {"activities": FIRST, "subscription_events": FIRST}

    import_more(server, "b", LATER, FIRST_DAY.replace(year=FIRST_DAY.year + 1))
    second = _run(args, server)

    assert second.returncode == 0, second.stderr
    assert _records(second) == {"activities": LATER, "subscription_events": LATER}
    rows = _rows(tmp_path / "cm.duckdb")
    assert len(rows["activities"]) == len(rows["subscription_events"]) == FIRST + LATER


def test_failed_streams_fail_the_run_as_in_the_command_s_own_process(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The fetch is the command's: a rejected key fails every stream, the command says so
    and exits as an in-process run does (4: the configuration is to fix), and the loader
    loads nothing."""
    streams = "activities,subscription_events"
    wrong_key = {"CM_KEY": "not-the-key"}

    forked = _run(_args(tmp_path / "forked", server, streams), server, wrong_key)
    inline = _run(_args(tmp_path / "inline", server, streams), server, {**wrong_key, **INLINE})

    assert forked.returncode == inline.returncode == exit_codes.CONFIG
    assert "2 stream(s) failed" in forked.stderr
    assert _error_line(forked.stderr) == _error_line(inline.stderr)
    for root in (tmp_path / "forked", tmp_path / "inline"):
        database = root / "cm.duckdb"
        assert not database.exists() or _rows(database) == {}


def test_a_destination_failing_in_the_loader_is_reported_as_in_process(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """DuckDB cannot open a folder as its file: the loader's error reaches the command with
    its message, hint and exit code, as the in-process run reports it."""
    outcomes = []
    for name, extra in (("forked", None), ("inline", INLINE)):
        root = tmp_path / name
        (root / "cm.duckdb").mkdir(parents=True)
        result = _run(_args(root, server, "plans"), server, extra)
        outcomes.append((result.returncode, _error_line(result.stderr).replace(name, "ROOT")))

    assert outcomes[0] == outcomes[1]
    code, message = outcomes[0]
    assert code != 0
    assert "cm.duckdb" in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    "more",
    [
        pytest.param(["--streams", "customerz"], id="usage-error"),
        pytest.param(["--mode", "sideways"], id="bad-option"),
        pytest.param([], id="a-whole-run"),
    ],
)
def test_no_process_outlives_the_command(
    server: EmulatorServer, tmp_path: Path, more: list[str]
) -> None:
    """The loader is forked before the command knows whether it will run: a command that
    stops early kills and reaps it, one that ran waits for it."""
    mark = uuid.uuid4().hex
    # not piped: reading a pipe to its end would wait for every process holding it
    result = subprocess.run(
        _args(tmp_path, server, "plans", *more),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=TIMEOUT_S,
        env=_env(server, {MARK_ENV: mark}),
    )

    assert (result.returncode == 0) == (not more)
    assert _processes_with(mark) == []


def test_the_loader_dies_with_the_command(slow_server: EmulatorServer, tmp_path: Path) -> None:
    """A command killed in the middle of its fetch takes its loader with it (it would
    otherwise load on with the run lock released); nothing is loaded."""
    mark = uuid.uuid4().hex
    args = _args(tmp_path, slow_server, "plans")
    with _command(args, _env(slow_server, {MARK_ENV: mark})) as command:
        _wait_for(lambda: len(_processes_with(mark)) == 2, "the command and its loader")
        _wait_for(lambda: _in_flight(slow_server) > 0, "the command's first request")
        os.kill(command.pid, signal.SIGKILL)
        command.wait(timeout=TIMEOUT_S)
        _wait_for(lambda: _processes_with(mark) == [], "the loader to end")

    database = tmp_path / "cm.duckdb"
    assert not database.exists() or _rows(database) == {}


def test_ctrl_c_stops_the_run_and_its_loader_as_in_process(
    slow_server: EmulatorServer, tmp_path: Path
) -> None:
    """Ctrl-C reaches the whole process group: the loader ignores it, the command stops as
    an in-process run stops (same exit code), and no process is left."""
    codes = []
    for name, extra in (("forked", None), ("inline", INLINE)):
        mark = uuid.uuid4().hex
        args = _args(tmp_path / name, slow_server, "plans")
        env = _env(slow_server, {MARK_ENV: mark, **(extra or {})})
        before = _in_flight(slow_server)
        with _command(args, env, stderr=subprocess.DEVNULL) as command:
            _wait_for(
                lambda: _in_flight(slow_server) > before,  # noqa: B023 - awaited in the loop
                "the command's first request",
            )
            os.killpg(command.pid, signal.SIGINT)
            codes.append(command.wait(timeout=TIMEOUT_S))
            _wait_for(lambda: _processes_with(mark) == [], "every process to end")  # noqa: B023

    assert codes[0] == codes[1] != 0


def test_a_killed_loader_fails_the_run_and_says_so(server: EmulatorServer, tmp_path: Path) -> None:
    """``kill -9`` of the loader alone: the command notices at its next page, names the
    loader and how to run without it, and loads nothing."""
    limits = f"{server.base_url}/_emulator/limits"
    # long enough that a busy machine still finds the command fetching when the loader dies
    httpx.patch(limits, json={"latency_ms": 10_000}, timeout=30).raise_for_status()
    mark = uuid.uuid4().hex
    args = _args(tmp_path, server, "plans")
    with _command(args, _env(server, {MARK_ENV: mark}), stderr=subprocess.PIPE) as command:
        _wait_for(lambda: len(_processes_with(mark)) == 2, "the command and its loader")
        (loader,) = [pid for pid in _processes_with(mark) if pid != command.pid]
        os.kill(loader, signal.SIGKILL)
        _, stderr = command.communicate(timeout=TIMEOUT_S)
        assert _processes_with(mark) == []

    assert command.returncode != 0
    assert "the extract's loader process ended" in " ".join(stderr.split())
    assert f"{SWITCH_ENV}=inline" in stderr
    database = tmp_path / "cm.duckdb"
    assert not database.exists() or _rows(database) == {}


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line a JSON object, or this fails


def test_json_logs_of_the_load_are_json_lines_of_the_run(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """``--log-format json``: what the load logs (here: activities read again from an
    earlier start_date) is a JSON line with the run's id, as in the command's own
    process; the loader is forked before the command configures its logging."""
    found = []
    for name, extra in (("forked", None), ("inline", INLINE)):
        root = tmp_path / name
        later = [*_args(root, server, "activities"), "--start-date", "2024-03-01"]
        earlier = [*_args(root, server, "activities"), "--start-date", "2024-01-01"]
        later[3:3] = earlier[3:3] = ["--log-format", "json"]
        assert _run(later, server, extra).returncode == 0
        result = _run(earlier, server, extra)
        assert result.returncode == 0, result.stderr
        lines = _json_lines(result.stderr)
        (finished,) = [line for line in lines if line["event"] == "extract_finished"]
        moved = [
            line
            for line in lines
            if line["event"] == "log" and "start_date moved back" in line["message"]
        ]
        assert [line["run_id"] for line in moved] == [finished["run_id"]], name
        found.append(len(moved))

    assert found == [1, 1]


def _pipes(pid: int, access: int) -> dict[str, int]:
    """The pipes process ``pid`` holds open for ``access`` (O_RDONLY, O_WRONLY), by
    inode, with their descriptor (past stdin, stdout and stderr)."""
    found = {}
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        fd = int(entry.name)
        try:
            target = str(entry.readlink())
            flags = (Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1]).split()[0]
        except OSError:
            continue
        if fd > 2 and target.startswith("pipe:") and int(flags, 8) & os.O_ACCMODE == access:
            found[target] = fd
    return found


def _unread_bytes(command: int, loader: int) -> int:
    """What the command wrote to its loader that the loader has not read (0: nothing)."""
    import fcntl
    import termios

    written = _pipes(command, os.O_WRONLY)
    read = _pipes(loader, os.O_RDONLY)
    (pipe,) = set(written) & set(read)
    probe = os.open(f"/proc/{loader}/fd/{read[pipe]}", os.O_RDONLY | os.O_NONBLOCK)
    try:
        size = bytearray(4)
        fcntl.ioctl(probe, termios.FIONREAD, size)
        return int.from_bytes(size, sys.byteorder)
    finally:
        os.close(probe)


def test_a_loader_dying_before_the_states_fails_the_run_instead_of_hanging(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """An incremental run's streams wait for the states the loader reads: a loader that
    dies before it sent them (killed, out of memory, a crash) fails the run and says so;
    the streams must not wait for ever."""
    args = _args(tmp_path, server, "activities,subscription_events")
    assert _run(args, server).returncode == 0  # a state to read: the streams wait for it
    mark = uuid.uuid4().hex
    with _command(args, _env(server, {MARK_ENV: mark}), stderr=subprocess.PIPE) as command:
        _wait_for(lambda: len(_processes_with(mark)) == 2, "the command and its loader")
        (loader,) = [pid for pid in _processes_with(mark) if pid != command.pid]
        os.kill(loader, signal.SIGSTOP)  # it has the run, and never answers
        _wait_for(lambda: _unread_bytes(command.pid, loader) > 0, "the run sent to the loader")
        os.kill(loader, signal.SIGKILL)
        try:
            _, stderr = command.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail("the command waited for ever for the states of a dead loader")
        assert _processes_with(mark) == []

    assert command.returncode != 0
    assert "the extract's loader process ended" in " ".join(stderr.split())


def test_ctrl_c_while_the_loader_loads_ends_the_command(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Ctrl-C once every page was taken, while the loader is still loading (here: into a
    PostgreSQL that accepts the connection and never answers, as a hung database would):
    the command ends, as it decides (it must not wait for the loader to answer), and takes
    its loader with it."""
    import socket
    import threading

    mark = uuid.uuid4().hex
    with socket.create_server(("127.0.0.1", 0)) as silent:  # never accepts, never answers
        port = silent.getsockname()[1]
        # dlt gives up connecting after 15 s by default: longer than any wait here
        destination = f"postgresql://etl:pw@127.0.0.1:{port}/analytics?connect_timeout=3600"
        args = _args(tmp_path, server, "plans", "--destination", destination)
        args += ["--mode", "overwrite"]  # no stored cursors to read first
        args.remove("--json")
        lines: list[str] = []
        with _command(args, _env(server, {MARK_ENV: mark}), stderr=subprocess.PIPE) as command:
            assert command.stderr is not None
            reading = threading.Thread(target=lambda: lines.extend(command.stderr or ()))
            reading.start()
            # a progress line per stage: "fetched" once dlt took the last page, then the
            # load connects and waits
            _wait_for(lambda: any("fetched" in line for line in lines), "every page taken")
            assert len(_processes_with(mark)) == 2
            os.killpg(command.pid, signal.SIGINT)
            try:
                command.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail("Ctrl-C waited for the loader")
            _wait_for(lambda: _processes_with(mark) == [], "the loader to end")
            reading.join(timeout=TIMEOUT_S)

    assert command.returncode != 0


def _stages(body: object) -> list[object]:
    """Every ``stage`` value in a webhook body, however deep."""
    if isinstance(body, dict):
        found = [value for key, value in body.items() if key == "stage"]
        return found + [stage for value in body.values() for stage in _stages(value)]
    if isinstance(body, list):
        return [stage for value in body for stage in _stages(value)]
    return []


def test_a_loader_failing_at_set_up_alerts_the_set_up_stage_as_in_process(
    server: EmulatorServer, tmp_path: Path, postgres_server: Any
) -> None:
    """Plans do not wait for stored cursors, so the command's fetch ends while the loader
    is still setting up; reading the cursors then fails (a database that does not exist).
    The alert says the run failed at ``set-up``, as in one process: the command used to
    count the fetch as done itself, before the loader was set up (``extract``)."""
    from tests.integration.ops._receivers import HttpReceiver

    missing = postgres_server.dsn.rsplit("/", 1)[0] + "/no_such_db"
    with HttpReceiver() as http:
        for name, extra in (("forked", None), ("inline", INLINE)):
            root = tmp_path / name
            args = _args(root, server, "plans", "--destination", missing)
            project = root / "mogulsync.yml"  # written by _args: one webhook channel more
            config = json.loads(project.read_text(encoding="utf-8"))
            config["alerts"] = {"channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}}}
            project.write_text(json.dumps(config), encoding="utf-8")
            result = _run(args, server, {"HOOK_URL": f"{http.url}/{name}", **(extra or {})})
            assert result.returncode == exit_codes.CONFIG, result.stderr
        stages = {path.strip("/"): _stages(body) for path, body in http.posts}

    assert stages == {"forked": ["set-up"], "inline": ["set-up"]}


def test_a_command_on_one_cpu_loads_in_its_own_process(
    slow_server: EmulatorServer, tmp_path: Path
) -> None:
    """Pinned to one CPU (taskset, a cgroup cpuset), the two processes would only take
    turns: the command does not fork its loader."""
    mark = uuid.uuid4().hex
    args = _args(tmp_path, slow_server, "plans")
    # pinned, then the command in the same process (exec keeps the affinity), as taskset does
    pin = "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})"
    pin += "; os.execv(sys.executable, sys.argv[1:])"
    env = _env(slow_server, {MARK_ENV: mark})
    with _command([sys.executable, "-c", pin, *args], env, stderr=subprocess.DEVNULL) as command:
        _wait_for(lambda: _in_flight(slow_server) > 0, "the command's first request")
        assert _processes_with(mark) == [command.pid]
