"""The package as a pip user gets it: the wheel, installed outside this repository.

Every other test imports mogulsync from ``src/`` (an editable install), so a file the wheel
leaves out (a template, the demo's project file) or code that reads a file from the
checkout (``examples/``) passes them all and fails only after ``pip install``. These tests
build the wheel and the sdist with hatchling (the build backend, installed with the dev
dependencies: nothing is downloaded), check what they hold, and run the wheel's own files
from a directory outside the repository.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import httpx
import pytest
from hatchling.builders.sdist import SdistBuilder
from hatchling.builders.wheel import WheelBuilder

from mogulsync.emulator.server import EmulatorServer
from mogulsync.testing.ports import announced_url

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "mogulsync"
#: generous bounds on waiting for a process (never asserted as speed)
WAIT_S = 120


def _build_wheel(root: Path, out: Path) -> Path:
    return Path(next(WheelBuilder(str(root)).build(directory=str(out), versions=["standard"])))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


def _package_files() -> set[str]:
    """Every file of src/mogulsync a build should ship, as paths inside the wheel."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    """Templates, static files, py.typed and the demo's project file included: the code reads
    them at run time from beside itself."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("mogulsync/")}
    expected = _package_files()
    assert {name for name in expected if not name.endswith(".py")} >= {
        "mogulsync/py.typed",
        "mogulsync/serve/ui/templates/base.html",
        "mogulsync/serve/ui/static/app.css",
        "mogulsync/examples/mogulsync.yml",
    }
    assert sorted(expected - shipped) == []
    assert sorted(shipped - expected) == []


def test_the_wheel_declares_the_command_and_the_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = archive.read(info).decode()
    entry_points = configparser.ConfigParser()
    entry_points.read_string(text)
    assert dict(entry_points["console_scripts"]) == {"mogulsync": "mogulsync._entry:main"}
    assert dict(entry_points["pytest11"]) == {
        "chartmogul_emulator": "mogulsync.testing.pytest_plugin"
    }


def test_the_sdist_builds_the_same_wheel(wheel: Path, tmp_path: Path) -> None:
    sdist = Path(
        next(SdistBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    )
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    rebuilt = _build_wheel(unpacked, tmp_path / "rebuilt")
    with zipfile.ZipFile(wheel) as first, zipfile.ZipFile(rebuilt) as second:
        assert {i.filename: i.CRC for i in first.infolist()} == {
            i.filename: i.CRC for i in second.infolist()
        }


#: run with only the wheel's files ahead of the dependencies on sys.path
_INSTALLED_LAYOUT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import mogulsync
    from mogulsync.config import load_config
    from mogulsync.demo import EXAMPLE
    from mogulsync.serve.ui import pages

    site = Path(sys.argv[1])
    assert Path(mogulsync.__file__).is_relative_to(site), mogulsync.__file__
    for template in sys.argv[2:]:  # the checkout's templates, found by the wheel's code
        pages.templates.get_template(template)
    load_config(EXAMPLE, env={"CHARTMOGUL_API_KEY": "k"})
    print("ok")
    """
)


def test_the_installed_wheel_works_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    """A new user's first steps, from the wheel's files in a directory of their own:
    ``init``, the sample warehouse, ``check``, and ``serve`` answering its web UI."""
    site, project = tmp_path / "site", tmp_path / "project"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    project.mkdir()
    # the wheel's copy first; the dependencies (and the editable src/) come after it
    env = {**os.environ, "PYTHONPATH": str(site)}
    templates = sorted(p.name for p in (PACKAGE / "serve" / "ui" / "templates").glob("*.html"))
    python = [sys.executable, "-c", _INSTALLED_LAYOUT, str(site), *templates]
    checked = subprocess.run(
        python, cwd=project, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False
    )
    assert checked.stdout.strip() == "ok", checked.stderr

    cli = [sys.executable, "-m", "mogulsync"]
    with EmulatorServer() as emulator:
        env["CHARTMOGUL_API_KEY"] = emulator.api_key
        for step in (
            [*cli, "init", "--warehouse", "duckdb:///warehouse.duckdb",
             "--base-url", emulator.base_url],
            [sys.executable, "-m", "mogulsync.sample_warehouse"],
            [*cli, "check"],
        ):  # fmt: skip
            done = subprocess.run(
                step, cwd=project, env=env, capture_output=True, text=True, timeout=WAIT_S,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, (step, done.stdout, done.stderr)
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [*cli, "serve", "--port", "0"], cwd=project, env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            base = announced_url(server, log, timeout=WAIT_S)
            with httpx.Client(base_url=base, timeout=WAIT_S) as client:
                for page in ("/syncs", "/runs", "/events", "/extract", "/login"):
                    answer = client.get(page)
                    assert answer.status_code == 200, (page, answer.text)
                    assert '<link rel="stylesheet" href="/static/app.css">' in answer.text
                for static in ("/static/app.css", "/static/app.js"):
                    assert client.get(static).status_code == 200, static
        finally:
            server.terminate()
            server.wait(timeout=WAIT_S)
