"""The systemd notify protocol against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from herald.sdnotify import Notifier, watchdog_interval, watchdog_loop


@pytest.fixture
def systemd_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket at a filesystem path, announced through NOTIFY_SOCKET.

    The directory is made short by hand: AF_UNIX paths are limited to 108 bytes and pytest's
    tmp_path can be longer.
    """
    directory = tempfile.mkdtemp(prefix="herald-sd-")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)  # a failing test ends instead of hanging; not used to wait for timing
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    try:
        yield sock
    finally:
        sock.close()
        shutil.rmtree(directory)


def _receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_each_state_is_sent_as_its_own_datagram(systemd_socket: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.enabled
    assert notifier.ready()
    assert notifier.watchdog()
    assert notifier.status("draining 3 sends")
    assert notifier.stopping()
    received = [_receive(systemd_socket) for _ in range(4)]
    assert received == ["READY=1", "WATCHDOG=1", "STATUS=draining 3 sends", "STOPPING=1"]


def test_status_is_kept_on_one_line(systemd_socket: socket.socket) -> None:
    notifier = Notifier()
    notifier.status("run 7\nfailed")
    assert _receive(systemd_socket) == "STATUS=run 7 failed"


def test_abstract_socket_name(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"herald-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = Notifier()
        assert notifier.ready()
        assert _receive(sock) == "READY=1"


def test_environ_can_be_passed_explicitly(systemd_socket: socket.socket) -> None:
    path = systemd_socket.getsockname()
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready()
    assert _receive(systemd_socket) == "READY=1"


def test_without_notify_socket_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.status("x")
    assert not notifier.stopping()


def test_unsupported_address_is_a_no_op() -> None:
    assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).ready()


def test_a_vanished_socket_never_raises_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = tempfile.mkdtemp(prefix="herald-sd-")
    try:
        notifier = Notifier({"NOTIFY_SOCKET": os.path.join(directory, "gone")})
        with caplog.at_level("WARNING", logger="herald.sdnotify"):
            assert not notifier.ready()
            assert not notifier.watchdog()
            assert not notifier.stopping()
    finally:
        shutil.rmtree(directory)
    warnings = [r for r in caplog.records if r.name == "herald.sdnotify"]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(environ) == expected


def test_watchdog_interval_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 1.0


@pytest.mark.asyncio
async def test_watchdog_loop_pings_from_the_event_loop(systemd_socket: socket.socket) -> None:
    systemd_socket.setblocking(False)
    loop = asyncio.get_running_loop()
    notifier = Notifier()
    task = asyncio.create_task(watchdog_loop(notifier, 0.001))
    try:
        async with asyncio.timeout(5):
            pings = [(await loop.sock_recv(systemd_socket, 4096)).decode() for _ in range(3)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert pings == ["WATCHDOG=1"] * 3
