"""``python -m herald.sandbox``: the sandbox as its own process, for benchmarks.

Running it out of process keeps its CPU cost off the measured daemon. Configure chats with
``POST /_control/channels``, read ``GET /_control/stats``, clear with ``POST /_control/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .sandbox import Sandbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m herald.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--rate-limit", type=float, default=None, help="sends per second")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay per request")
    parser.add_argument("--token", default=None, help="only accept this bot token")
    parser.add_argument(
        "--auto-channels", action="store_true", help="accept sends to any unknown chat"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGTERM/SIGINT, then shut down cleanly."""
    sandbox = Sandbox(
        token=args.token,
        rate_limit=args.rate_limit,
        latency=args.latency_ms / 1000,
        auto_channels=args.auto_channels,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sandbox.start(args.host, args.port)
    print(f"sandbox listening on {sandbox.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
