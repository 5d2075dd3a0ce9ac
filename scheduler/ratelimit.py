"""One rate budget for the whole bot (HERALD_RATE_LIMIT), replies to operators first.

Telegram counts requests as they arrive, and a request arrives some time after
we decide to send it. So the budget is a pool of `capacity` tokens, and a token
comes back only `period` seconds after its request has *finished*: whatever
the delays between us and Telegram, no `period`-long window of arrivals can
hold more than `capacity` requests. For a whole number N per second that is
exactly "at most N in any second". A 429 holds every sender until its
`retry_after` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable


class RateLimiter:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        if rate > 0:
            self.capacity = max(1, math.floor(rate))
            self.period = max(1.0, 1.0 / rate)
        else:
            self.capacity, self.period = 0, 0.0
        #: Tokens broadcast sends leave free, so an operator's reply never waits for a
        #: budget that a run has used up.
        self.reserved = 1 if self.capacity >= 2 else 0
        self._free = self.capacity
        self._returned = asyncio.Event()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()
        self._priority_waiting = 0
        self._priority_done = asyncio.Event()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def hold(self, seconds: float) -> None:
        """Telegram said 429: nobody sends for `seconds` (invariant 8)."""
        self._hold_until = max(self._hold_until, self._clock() + seconds)

    @contextlib.asynccontextmanager
    async def slot(self, priority: bool = False) -> AsyncIterator[None]:
        """Hold a token for one request; it comes back `period` after the request ends."""
        await self.take(priority)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, priority: bool = False) -> None:
        """A token for a request sent now and finished at once (its token returns in `period`)."""
        await self.take(priority)
        self.release()

    async def take(self, priority: bool = False) -> None:
        """Wait for a token. Priority callers (operator replies) skip the queue."""
        if self.unlimited and self._hold_until <= self._clock():
            return  # the common case of a benchmark or a Bot API stand-in: no lock, no wait
        if priority:
            self._priority_waiting += 1
            try:
                await self._wait_for_token(priority=True)
            finally:
                self._priority_waiting -= 1
                if not self._priority_waiting:
                    self._priority_done.set()
            return
        async with self._lock:  # FIFO among broadcast sends
            await self._wait_for_token(priority=False)

    def release(self, used: bool = True) -> None:
        """The request ended; an unused token (nothing was sent) comes back at once."""
        if self.unlimited:
            return
        if used:
            asyncio.get_running_loop().call_later(self.period, self._give_back)
        else:
            self._give_back()

    def _give_back(self) -> None:
        self._free += 1
        self._returned.set()

    async def _wait_for_token(self, priority: bool) -> None:
        while True:
            if not priority and self._priority_waiting:
                self._priority_done.clear()
                await self._priority_done.wait()
                continue
            held = self._hold_until - self._clock()
            if held > 0:
                await asyncio.sleep(held)
                continue
            if self.unlimited:
                return
            if self._free > (0 if priority else self.reserved):
                self._free -= 1  # no await between the check and the take
                return
            self._returned.clear()
            await self._returned.wait()
