"""The machine-wide rate-limit file outlives the processes on purpose (docs/operations.md,
"The rate-limit file"): what it holds, where it lives, and that deleting it is safe."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from pydantic import SecretStr

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, SharedLimit, forget_limiters
from mogulsync.chartmogul.shared_pacing import DEFAULT_FILE_ENV, default_pacing_file
from mogulsync.emulator.server import EmulatorServer

DOCS = Path(__file__).parents[3] / "docs" / "operations.md"


def _ping(server: EmulatorServer, path: Path) -> bool:
    settings = ClientSettings(
        api_key=SecretStr(server.api_key),
        base_url=server.base_url,
        shared_limit=SharedLimit(file=str(path)),
    )

    async def ping() -> bool:
        async with ChartMogulClient(settings) as client:
            return await client.ping()

    try:
        return asyncio.run(ping())
    finally:
        forget_limiters()  # what a process ending does: its connections to the file close


def _everything_in(path: Path) -> bytes:
    """The file and its write-ahead log, as a reader of the disk would see them."""
    return b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))


def test_the_file_holds_no_key_and_deleting_it_between_processes_is_safe(
    tmp_path: Path, emulator_server: EmulatorServer
) -> None:
    path = tmp_path / "mogulsync-1000" / "rate-limit.sqlite"
    assert _ping(emulator_server, path)
    assert path.is_file()  # left behind on purpose: the next process books from it
    assert emulator_server.api_key.encode() not in _everything_in(path)
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()
    assert _ping(emulator_server, path)  # the next process starts a new one
    assert path.is_file()


def test_the_default_place_is_a_per_user_folder_in_the_temp_dir_as_documented(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DEFAULT_FILE_ENV, raising=False)
    where = Path(tempfile.gettempdir()) / f"mogulsync-{os.getuid()}" / "rate-limit.sqlite"
    assert default_pacing_file() == where
    monkeypatch.setenv(DEFAULT_FILE_ENV, str(tmp_path / "pace.sqlite"))
    assert default_pacing_file() == tmp_path / "pace.sqlite"
    text = DOCS.read_text()
    for said in ("<tmp>/mogulsync-<uid>/rate-limit.sqlite", DEFAULT_FILE_ENV, "safe to delete"):
        assert said in text
