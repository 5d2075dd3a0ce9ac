"""The systemd notify protocol (``sd_notify``) without extra dependencies.

With ``Type=notify`` systemd waits for ``READY=1`` before it counts Herald as started (so
``ExecStartPost`` and dependent units see a daemon that has migrated and connected), shows
``STATUS=`` in ``systemctl status``, and with ``WatchdogSec=`` restarts Herald when the
``WATCHDOG=1`` pings stop. The pings come from the asyncio event loop itself
(:func:`watchdog_loop`), so a loop wedged by blocking code stops them and gets the service
restarted, which a ping from a helper thread would hide.

Outside systemd (``NOTIFY_SOCKET`` unset) every call is a no-op, so the daemon needs no
special case for development or tests. Sending never raises into the caller: losing a status
line must not take the broadcaster down; the first failure is logged as a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _socket_address(raw: str | None) -> str | None:
    """Turn ``NOTIFY_SOCKET`` into an ``AF_UNIX`` address: ``@name`` is the abstract namespace."""
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # e.g. "vsock:..." (systemd >= 254 in VMs): not something a service on the host receives.
    log.warning("unsupported NOTIFY_SOCKET %r; systemd notifications disabled", raw)
    return None


class Notifier:
    """Sends state changes to systemd over the datagram socket named by ``NOTIFY_SOCKET``.

    ``environ`` defaults to :data:`os.environ`; it is read once, at construction.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET"))
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; return whether it was sent. Never raises."""
        if self._address is None:
            return False
        message = "\n".join(assignments).encode("utf-8", "replace")
        try:
            # A fresh socket per message, as libsystemd's sd_notify does: messages are rare
            # (a watchdog ping every few seconds) and nothing is left open to leak or close.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message, self._address)
        except Exception:  # OSError mostly; nothing here may reach the caller
            if not self._warned:
                self._warned = True
                log.warning(
                    "systemd notification failed (further failures are silent)", exc_info=True
                )
            return False
        return True

    def ready(self) -> bool:
        """Tell systemd start-up is complete (``Type=notify`` waits for this)."""
        return self.notify("READY=1")

    def stopping(self) -> bool:
        """Tell systemd a graceful shutdown (draining in-flight sends) has begun."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """Ping the service watchdog (``WatchdogSec=``)."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status``."""
        return self.notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings, or None when systemd expects none.

    systemd sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``, which must be this process: a child
    that inherited the variables must not ping for its parent). Pinging at half the timeout,
    as sd_watchdog_enabled(3) recommends, leaves room for one late tick.
    """
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 1_000_000 / 2


async def watchdog_loop(notifier: Notifier, interval: float) -> None:
    """Ping the watchdog every ``interval`` seconds from the event loop until cancelled.

    Run it as a task next to the daemon's work; cancel it on shutdown.
    """
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)
