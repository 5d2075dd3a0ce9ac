"""Logging: one event per line on stderr, which journald keeps."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiogram logs every update at INFO and APScheduler every job run: too chatty
    # for a daemon sending thousands of messages; their warnings still show.
    for noisy in ("aiogram.event", "apscheduler.scheduler", "tortoise"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # APScheduler logs every failed send with a traceback; the engine's listener
    # already logs each retry and final failure as one line with its reason.
    logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
