"""Herald's benchmarks, side by side with a bare aiogram loop measured in the same run.

    .venv/bin/python bench/run.py            # full sizes, 3 repetitions, writes bench/results.md
    .venv/bin/python bench/run.py --tiny     # seconds; what the test suite runs

Herald runs as `herald serve` in its own process, the Bot API sandbox in
another (zero latency), PostgreSQL as a throwaway cluster. A run is started the
way an operator starts it (`/run NAME` arrives as an update) and timed until the
completion notice reaches the sandbox. Projects are written straight into the
database: 100,000 `/targets` arguments would measure the chat, not the engine.
Every figure is the median of the repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from herald.db.connection import apply_migrations, close_database, open_database  # noqa: E402
from herald.db.models import Message, Project, Target  # noqa: E402
from herald.db.transitions import start_run  # noqa: E402
from tests.pgcluster import PgCluster  # noqa: E402

OPERATOR = 4242
TOKEN = "123456789:bench-token"


@dataclass(frozen=True)
class Sizes:
    throughput: int
    big: int
    memory: tuple[int, int]
    rate: int
    reps: int


FULL = Sizes(throughput=10_000, big=100_000, memory=(10_000, 100_000), rate=1_500, reps=3)
TINY = Sizes(throughput=200, big=2_000, memory=(200, 1_000), rate=60, reps=1)


class SandboxProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "herald.sandbox", "--auto-channels", *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        self.url = line.rsplit(" ", 1)[-1].strip()

    async def get(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as s, s.get(self.url + path, params=params) as r:
            return await r.json()

    async def post(self, path: str, body: dict) -> dict:
        async with aiohttp.ClientSession() as s, s.post(self.url + path, json=body) as r:
            return await r.json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def baseline(n: int) -> float:
    """What a user would write instead: gather under a Semaphore(50), no database."""
    sandbox = SandboxProcess()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(sandbox.url)))
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        async with gate:
            await bot.send_message(f"@bench{i:06d}", "hello")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await bot.session.close()
    sandbox.stop()
    return n / elapsed


async def make_project(url: str, name: str, n: int) -> None:
    await open_database(url)
    project = await Project.create(name=name)
    rows = [Target(project=project, chat=f"@bench{i:06d}", position=i) for i in range(n)]
    await Target.bulk_create(rows, batch_size=5_000)
    await Message.create(project=project, position=0, kind="text", content={"text": "hello"})
    await close_database()


@dataclass
class RunResult:
    jobs_per_s: float
    latency_s: float
    peak_rss_mb: float
    achieved_rate: float
    too_many: int


async def herald_run(
    url: str,
    n: int,
    rate: float = 0,
    sandbox_rate: float | None = None,
) -> RunResult:
    """`herald serve` runs one project of `n` targets from `/run` to the notice."""
    name = f"bench{time.monotonic_ns()}"
    await make_project(url, name, n)
    extra = ["--rate-limit", str(sandbox_rate)] if sandbox_rate else []
    sandbox = SandboxProcess(*extra)
    env = {
        **os.environ,
        "HERALD_BOT_TOKEN": TOKEN,
        "HERALD_TELEGRAM_API": sandbox.url,
        "HERALD_DATABASE_URL": url,
        "HERALD_ADMINS": str(OPERATOR),
        "HERALD_METRICS_PORT": "0",
        "HERALD_RATE_LIMIT": str(rate),
    }
    log_path = Path(os.environ.get("HERALD_BENCH_LOG", os.devnull))
    log_file = log_path.open("a")
    serve = subprocess.Popen(
        [str(Path(sys.executable).parent / "herald"), "serve"], env=env, stderr=log_file
    )
    try:
        # Ready once it answered the operator's first command.
        await sandbox.post("/_control/operator_message", {"user_id": OPERATOR, "text": "/help"})
        await _until(lambda: _replies(sandbox), 1, timeout=60)
        started = time.monotonic()
        await sandbox.post(
            "/_control/operator_message", {"user_id": OPERATOR, "text": f"/run {name}"}
        )
        notice_at = await _notice(sandbox, timeout=max(180, n / 20))
        elapsed = notice_at - started
        stats = await sandbox.get("/_control/stats")
        peak = _peak_rss_mb(serve.pid)
    finally:
        serve.terminate()
        serve.wait(30)
        log_file.close()
        sandbox.stop()
    times = stats["send_times"]
    # time.monotonic() of processes on one machine shares its origin (CLOCK_MONOTONIC),
    # so the sandbox's last delivery and our sighting of the notice compare directly.
    latency = notice_at - times["last"]
    span = (times["last"] or 0) - (times["first"] or 0)
    return RunResult(
        jobs_per_s=n / elapsed,
        latency_s=latency,
        peak_rss_mb=peak,
        achieved_rate=(times["count"] - 1) / span if span > 0 else 0.0,
        too_many=int(stats.get("too_many_requests", 0)),
    )


async def _replies(sandbox: SandboxProcess) -> int:
    return len(await sandbox.get("/_control/received", chat=str(OPERATOR)))


async def _until(probe, at_least: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while await probe() < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError("herald serve did not answer")
        await asyncio.sleep(0.05)


async def _notice(sandbox: SandboxProcess, timeout: float) -> float:
    """When the completion notice (first line `… completed N/N`) was first seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in await sandbox.get("/_control/received", chat=str(OPERATOR)):
            first = (message.get("text") or "").split("\n", 1)[0]
            if ": completed " in first:
                return time.monotonic()
        await asyncio.sleep(0.01)
    stats = await sandbox.get("/_control/stats")
    raise TimeoutError(
        f"no completion notice after {timeout:.0f} s; the sandbox delivered"
        f" {stats.get('delivered')} message(s); set HERALD_BENCH_LOG=FILE for the daemon's log"
    )


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def start_seconds(url: str, n: int) -> float:
    from datetime import UTC, datetime

    name = f"start{time.monotonic_ns()}"
    await make_project(url, name, n)
    await open_database(url)
    started = time.perf_counter()
    await start_run(name, OPERATOR, datetime.now(UTC))
    elapsed = time.perf_counter() - started
    # Measured only: the next `herald serve` must not recover and send this run.
    await Project.filter(name=name).delete()
    await close_database()
    return elapsed


def med(values: list[float]) -> float:
    return statistics.median(values)


class Table:
    """Rows as they are measured: printed at once, so a long run shows its progress."""

    def __init__(self, sizes: Sizes, out: Path | None) -> None:
        self.sizes, self.out = sizes, out
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, measure: str, result: str, ratio: str, goal: str) -> None:
        self.rows.append((measure, result, ratio, goal))
        print(f"| {measure} | {result} | {ratio} | {goal} |", file=sys.stderr, flush=True)
        if self.out:
            self.out.write_text(_table(self.rows, self.sizes))


async def main(sizes: Sizes, out: Path | None) -> str:
    cluster = PgCluster()
    cluster.init()
    cluster.start()
    table = Table(sizes, out)
    try:
        pg = f"{cluster.url}/postgres"
        await apply_migrations(pg)
        sqlite_dir = Path(cluster.root) / "sqlite"
        sqlite_dir.mkdir()
        lite = f"sqlite://{sqlite_dir / 'bench.db'}"
        await apply_migrations(lite)
        await _measure_all(table, sizes, pg, lite)
    finally:
        cluster.destroy()
    return _table(table.rows, sizes)


async def _measure_all(table: Table, sizes: Sizes, pg: str, lite: str) -> None:
    n, reps = sizes.throughput, range(sizes.reps)
    # Interleaved, so a slow minute of the machine weighs on Herald and the baseline
    # alike; each ratio compares runs of the same repetition.
    base, pg_runs, lite_runs = [], [], []
    for _ in reps:
        base.append(await baseline(n))
        pg_runs.append(await herald_run(pg, n))
        lite_runs.append(await herald_run(lite, n))
    table.add(
        f"baseline: bare aiogram, Semaphore(50), {n:,} sends",
        f"{med(base):,.0f} jobs/s",
        "1.00x",
        "reference",
    )
    for label, runs, goal in (
        ("1. Herald on Postgres", pg_runs, ">= 0.75x and >= 1,000/s"),
        ("2. Herald on SQLite", lite_runs, ">= 0.5x"),
    ):
        rates = [r.jobs_per_s for r in runs]
        ratio = med([r / b for r, b in zip(rates, base, strict=True)])
        table.add(
            f"{label}, no limit, {n:,} targets", f"{med(rates):,.0f} jobs/s", f"{ratio:.2f}x", goal
        )
    start = med([await start_seconds(pg, sizes.big) for _ in reps])
    table.add(f"3. start a {sizes.big:,}-target run (Postgres)", f"{start:.2f} s", "", "< 3 s")
    small, large = sizes.memory
    mem_small = med([(await herald_run(pg, small)).peak_rss_mb for _ in reps])
    mem_large = med([(await herald_run(pg, large)).peak_rss_mb for _ in reps])
    table.add(
        f"4. peak RSS of herald serve, {small:,} / {large:,} targets",
        f"{mem_small:.0f} / {mem_large:.0f} MB",
        f"+{(mem_large / mem_small - 1) * 100:.0f}%",
        "< 250 MB, growth < 20%",
    )
    for limit in (30, 25):
        runs = [await herald_run(pg, sizes.rate, rate=limit, sandbox_rate=30) for _ in reps]
        table.add(
            f"5. rate fidelity: HERALD_RATE_LIMIT={limit}, sandbox enforces 30/s, "
            f"{sizes.rate:,} targets",
            f"{med([r.achieved_rate for r in runs]):.1f}/s, "
            f"{med([r.too_many for r in runs]):.0f} x 429",
            "",
            ">= 28.5/s, no 429" if limit == 30 else "<= 25/s, no 429",
        )
    latency = med([r.latency_s for r in pg_runs + lite_runs])
    table.add(
        "6. last outcome to completion notice", f"{latency * 1000:.0f} ms", "", "median < 500 ms"
    )


def _table(rows: list[tuple[str, str, str, str]], sizes: Sizes) -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    head = [
        "# Herald benchmarks",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Medians of {sizes.reps} repetition(s).",
        "Command: `.venv/bin/python bench/run.py`",
        "",
        "| measure | result | vs baseline | goal |",
        "| --- | --- | --- | --- |",
    ]
    return "\n".join(head + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]) + "\n"


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the suite's smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    sizes = TINY if args.tiny else FULL
    out = args.out if args.out or args.tiny else ROOT / "bench" / "results.md"
    print(asyncio.run(main(sizes, out)))


if __name__ == "__main__":
    cli()
