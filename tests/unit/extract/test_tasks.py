"""``run_all``: concurrent parts that never outlive the call (unlike ``asyncio.gather``).

A part left running after its stream failed goes on sending requests, and may finish one
on a connection its closed client no longer owns (a socket left open). Every test here
would pass with ``asyncio.gather`` except for that: the parts' ends are checked.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from mogulsync.extract._tasks import end_tasks, run_all


async def _value_after(turns: int, value: int) -> int:
    for _ in range(turns):
        await asyncio.sleep(0)
    return value


async def _fail_after(turns: int, error: Exception) -> int:
    await _value_after(turns, 0)
    raise error


async def _wait_forever(ended: list[str], name: str, cleanup_turns: int = 0) -> int:
    try:
        await asyncio.Event().wait()
    finally:  # a part's own clean-up (closing what it opened) takes a few loop turns
        for _ in range(cleanup_turns):
            await asyncio.sleep(0)
        ended.append(name)
    raise AssertionError("unreachable")  # pragma: no cover


def test_results_come_in_the_order_of_the_parts() -> None:
    parts = [_value_after(3, 1), _value_after(1, 2), _value_after(2, 3)]
    assert asyncio.run(run_all(parts)) == [1, 2, 3]
    assert asyncio.run(run_all([])) == []


def test_a_failure_is_raised_once_the_other_parts_ended() -> None:
    ended: list[str] = []

    async def run() -> None:
        parts = [_wait_forever(ended, "sibling", cleanup_turns=3), _fail_after(1, ValueError())]
        with pytest.raises(ValueError):
            await run_all(parts)
        assert ended == ["sibling"]  # gather: [] (the sibling still waits)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(run())


def test_the_first_failure_is_raised_and_later_ones_are_not_logged() -> None:
    """A sibling that fails as it is cancelled: its error is read, not left for asyncio
    to log as "Task exception was never retrieved" when the task is collected."""
    logged: list[dict[str, Any]] = []

    async def fails_when_cancelled() -> int:
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("closing failed too")  # the case under test

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: logged.append(ctx))
        with pytest.raises(ValueError, match="first"):
            await run_all([fails_when_cancelled(), _fail_after(1, ValueError("first"))])
        gc.collect()

    asyncio.run(run())
    assert logged == []


def test_a_cancelled_call_ends_its_parts_before_it_returns() -> None:
    ended: list[str] = []

    async def run() -> None:
        parts = [_wait_forever(ended, "a", cleanup_turns=2), _wait_forever(ended, "b")]
        call = asyncio.ensure_future(run_all(parts))
        await asyncio.sleep(0)  # the parts are running
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert sorted(ended) == ["a", "b"]

    asyncio.run(run())


def test_ending_tasks_goes_on_when_the_caller_is_cancelled_meanwhile() -> None:
    """The caller's cancellation is raised only once every task has ended: otherwise a
    task could still send a request on the client its caller closes next."""
    release = asyncio.Event()
    ended: list[str] = []

    async def slow_to_end() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()
            ended.append("task")

    async def run() -> None:
        task = asyncio.ensure_future(slow_to_end())
        await asyncio.sleep(0)
        ending = asyncio.ensure_future(end_tasks([task]))
        await _value_after(3, 0)
        ending.cancel()
        await _value_after(3, 0)
        assert not ending.done()  # still waiting for the task
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await ending
        assert ended == ["task"]

    asyncio.run(run())
