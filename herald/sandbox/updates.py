"""The queue of updates the bot long-polls with getUpdates.

Telegram keeps updates until a later ``offset`` confirms them and allows only one poller at a
time; both rules are reproduced because Herald's polling loop depends on them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from itertools import islice
from typing import Any

from .models import CONFLICT, ApiError


class UpdateQueue:
    """Pending updates with monotonically increasing ``update_id`` and a long-poll wait."""

    def __init__(self) -> None:
        self._pending: deque[dict[str, Any]] = deque()
        self._last_id = 0  # survives clear(): a running poller's offset must stay meaningful
        self._arrived = asyncio.Event()
        self._poller_active = False
        self._closing = False

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> list[dict[str, Any]]:
        return list(self._pending)

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._last_id += 1
        update = {"update_id": self._last_id, kind: payload}
        self._pending.append(update)
        self._arrived.set()
        return update

    def clear(self) -> None:
        self._pending.clear()

    def wake_all(self) -> None:
        """Release long-polls immediately (server shutdown must not wait for poll timeouts)."""
        self._closing = True
        self._arrived.set()

    def reopen(self) -> None:
        self._closing = False

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:  # Telegram: -N keeps only the last N updates
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    async def poll(self, offset: int | None, limit: int, timeout: float) -> list[dict[str, Any]]:
        """Confirm up to ``offset`` and return up to ``limit`` updates, waiting up to ``timeout``.

        A second poller while one is waiting gets 409, like two bot instances on one token.
        """
        if self._poller_active:
            raise ApiError(409, CONFLICT)
        self._poller_active = True
        try:
            self._confirm(offset)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                if self._pending or self._closing:
                    return list(islice(self._pending, max(1, min(limit, 100))))
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    return []
        finally:
            self._poller_active = False
