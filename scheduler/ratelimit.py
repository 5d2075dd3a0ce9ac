"""One rate budget for the whole bot (HERALD_RATE_LIMIT), replies to operators first.

A sliding window: never more than `capacity` grants in any `period` seconds,
which for a whole number N per second is exactly "at most N in any second".
A 429 from Telegram holds every sender until its `retry_after` has passed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

#: Requests reach Telegram a little after they are granted, with jitter; a small
#: margin keeps a burst that was spaced exactly 1 s apart from landing inside one
#: second of Telegram's window.
MARGIN = 1.005


class RateLimiter:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        if rate > 0:
            self.capacity = max(1, math.floor(rate))
            self.period = max(1.0, 1.0 / rate) * MARGIN
        else:
            self.capacity, self.period = 0, 0.0
        #: Slots broadcast sends leave free, so an operator's reply never waits for a
        #: window that a run has filled.
        self.reserved = 1 if self.capacity >= 2 else 0
        self._granted: deque[float] = deque()
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

    def _wait_needed(self, priority: bool) -> float:
        now = self._clock()
        wait = self._hold_until - now
        if not self.unlimited:
            while self._granted and now - self._granted[0] >= self.period:
                self._granted.popleft()
            allowed = self.capacity if priority else self.capacity - self.reserved
            if len(self._granted) >= allowed:
                # The grant that must leave the window before one more fits.
                oldest = self._granted[len(self._granted) - allowed]
                wait = max(wait, oldest + self.period - now)
        return wait

    def _grant(self) -> None:
        if not self.unlimited:
            self._granted.append(self._clock())

    async def _take(self, priority: bool) -> None:
        while True:
            if not priority and self._priority_waiting:
                self._priority_done.clear()
                await self._priority_done.wait()
                continue
            wait = self._wait_needed(priority)
            if wait <= 0:
                self._grant()  # no await between the check and the grant
                return
            await asyncio.sleep(wait)

    async def acquire(self, priority: bool = False) -> None:
        """Wait for a slot. Priority callers (operator replies) skip the queue."""
        if self.unlimited and self._hold_until <= self._clock():
            return
        if priority:
            self._priority_waiting += 1
            try:
                await self._take(priority=True)
            finally:
                self._priority_waiting -= 1
                if not self._priority_waiting:
                    self._priority_done.set()
            return
        async with self._lock:  # FIFO among broadcast sends
            await self._take(priority=False)
