"""The collector pauses during an extract's set-up, then resumes with the set-up frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mogulsync import _quick_exit as quick_exit
from mogulsync.extract._collector import collector_after_set_up


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    """Each test starts with the collector on and leaves nothing frozen behind."""
    was_enabled = gc.isenabled()
    gc.unfreeze()  # nothing frozen to start with: a count can then only grow by a freeze
    gc.enable()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_paused_until_set_up_then_frozen_and_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen_before = gc.get_freeze_count()
    freezes: list[None] = []
    freeze = gc.freeze

    def counted() -> None:
        freezes.append(None)
        freeze()

    # counted, not compared: frozen objects freed meanwhile (another test's thread ending)
    # lower the freeze count whatever the collector does
    monkeypatch.setattr(gc, "freeze", counted)
    with collector_after_set_up() as set_up_done:
        assert not gc.isenabled()
        set_up_done()
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen_before
        set_up_done()  # a second call changes nothing
        assert len(freezes) == 1
        assert gc.isenabled()
    assert gc.isenabled()


def test_a_set_up_that_fails_resumes_without_freezing() -> None:
    frozen_before = gc.get_freeze_count()
    paused: list[bool] = []

    def set_up() -> None:
        with collector_after_set_up():
            paused.append(not gc.isenabled())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        set_up()
    assert paused == [True]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen_before


def test_a_run_that_fails_after_its_set_up_unfreezes() -> None:
    """Its process may then end the normal way, whose teardown must find nothing frozen."""
    frozen: list[int] = []

    def run() -> None:
        with collector_after_set_up() as set_up_done:
            set_up_done()
            frozen.append(gc.get_freeze_count())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        run()
    assert frozen[0] > 0
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_a_collector_switched_off_elsewhere_stays_off() -> None:
    gc.disable()
    with collector_after_set_up() as set_up_done:
        set_up_done()
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_quick_exit_needs_arming_and_a_request() -> None:
    """``request`` alone (a command run in-process, as by CliRunner) never ends a process;
    arming forgets a request made before it."""
    quick_exit.request()
    assert not quick_exit.requested()
    try:
        quick_exit.arm()
        assert not quick_exit.requested()
        quick_exit.request()
        assert quick_exit.requested()
    finally:
        quick_exit._state.update(armed=False, requested=False)


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (4, 4), ("a message", 1)])
def test_exit_codes_follow_sys_exit(
    code: object, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert quick_exit.exit_code(code) == status
    assert capsys.readouterr().err == ("a message\n" if isinstance(code, str) else "")
