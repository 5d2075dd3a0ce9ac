"""The `herald` command (DESIGN.md contract 2)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from herald.config import ConfigError, Settings, load_settings
from herald.db.connection import SchemaNotReady, apply_migrations
from herald.logs import setup_logging

log = logging.getLogger("herald")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="herald",
        description="Broadcast to Telegram channels from a Telegram chat; "
        "each run stops by itself when every send is final.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the daemon: bot polling, scheduler, metrics")
    sub.add_parser("migrate", help="apply database migrations to HERALD_DATABASE_URL")
    demo = sub.add_parser("demo", help="the whole flow offline against a local Bot API sandbox")
    demo.add_argument("--targets", type=int, default=300, help="sandbox channels (default 300)")
    demo.add_argument(
        "--rate", type=float, default=100, help="sends per second (default 100); 0 = unlimited"
    )
    return parser


async def _migrate(settings: Settings) -> None:
    applied = await apply_migrations(settings.database_url)
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("database is up to date")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The demo draws on the terminal: only warnings and errors may interleave with it.
    setup_logging(logging.WARNING if args.command == "demo" else logging.INFO)
    try:
        settings = load_settings()
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "serve":
            from herald.bot.app import serve

            return asyncio.run(serve(settings))
        elif args.command == "demo":
            from herald.bot.demo import demo

            return asyncio.run(demo(targets=args.targets, rate=args.rate))
    except (ConfigError, SchemaNotReady) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
