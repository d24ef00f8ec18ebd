"""Answer within the invoke budget, finish in the background. Teams waits about 5 s for an invoke's answer; work
that may take longer is given INVOKE_BUDGET, then the turn answers and the work goes on as a tracked task whose
result (or failure, logged and reported to the user) is posted to the chat afterwards. Tasks are kept until done
and awaited, then cancelled, when the app shuts down."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
INVOKE_BUDGET = 3.5  # seconds; leaves the rest of Teams' ~5 s for the answer itself to travel
SHUTDOWN_GRACE = 5.0
T = TypeVar("T")


class Late:
    """What `within` returns when the work did not finish in the budget and goes on in the background."""


LATE = Late()


class Background:
    def __init__(self, budget: float = INVOKE_BUDGET) -> None:
        self.budget = budget
        self._tasks: set[asyncio.Task[None]] = set()

    async def within(self, work: Coroutine[Any, Any, T], what: str, *,
                     finished: Callable[[T], Awaitable[None]],
                     failed: Callable[[BaseException], Awaitable[None]]) -> T | Late:
        """`work`'s result (or its exception) if it ends within the budget; LATE otherwise, and then `finished`
        gets the result, or `failed` the exception of the work or of `finished`, once it is there."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.budget)
        if done:
            return task.result()
        follow = asyncio.ensure_future(self._follow_up(task, what, finished, failed))
        self._tasks.add(follow)
        follow.add_done_callback(self._tasks.discard)
        return LATE

    @staticmethod
    async def _follow_up(task: asyncio.Future[T], what: str, finished: Callable[[T], Awaitable[None]],
                         failed: Callable[[BaseException], Awaitable[None]]) -> None:
        try:
            await finished(await task)
        except Exception as exc:
            log.warning("%s failed in the background: %s", what, exc)
            try:
                await failed(exc)
            except Exception as again:  # the user could not be told either; the log is all that is left
                log.error("%s: could not report the failure to the user: %s", what, again)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Let running follow-ups finish for up to `grace` seconds, then cancel the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
