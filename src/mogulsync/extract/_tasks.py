"""Concurrent parts of a fetch that never outlive the call that started them.

``asyncio.gather`` raises the first failure and leaves the other parts running. A part
left behind goes on sending requests after its stream ended, and once the run closes its
client, a part that was opening a connection at that moment finishes its request on a
connection no pool owns any more: the socket stays open until the garbage collector finds
it (``ResourceWarning: unclosed transport``). Here a failure, or a cancellation of the
caller, cancels the other parts and waits until each has ended before it is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_all(parts: Iterable[Awaitable[T]]) -> list[T]:
    """Run every part concurrently: their results in order, or the first failure once
    every other part was cancelled and has ended."""
    tasks: list[asyncio.Future[T]] = []
    try:
        tasks.extend(asyncio.ensure_future(part) for part in parts)
        if not tasks:
            return []
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # cancelled (or a part could not start): none may run on
        await end_tasks(tasks)
        raise
    failures = [error for task in tasks if task in done for error in _failure(task)]
    if failures:
        await end_tasks(tasks)
        raise failures[0]
    return [task.result() for task in tasks]


async def end_tasks(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended; their failures are read (so
    asyncio does not log them as never retrieved) and dropped.

    A cancellation of the caller meanwhile is raised only once they all ended: a task
    still running could send a request on a client its caller is about to close.
    """
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    cancelled: asyncio.CancelledError | None = None
    pending = {task for task in tasks if not task.done()}
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError as exc:
            cancelled = exc
        pending = {task for task in pending if not task.done()}
    for task in tasks:
        _failure(task)
    if cancelled is not None:
        raise cancelled


def _failure(task: asyncio.Future[Any]) -> tuple[BaseException, ...]:
    """The task's failure, if it failed (read, so it is never logged as unretrieved)."""
    if task.cancelled():
        return ()
    error = task.exception()
    return () if error is None else (error,)
