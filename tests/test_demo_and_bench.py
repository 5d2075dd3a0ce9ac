"""The quick start's main job and the benchmark script keep working (no timing asserted)."""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HERALD = str(Path(sys.executable).parent / "herald")


def test_demo_runs_offline_and_leaves_nothing(tmp_path: Path) -> None:
    before = set(glob.glob("/tmp/herald-demo-*"))
    done = subprocess.run(
        [HERALD, "demo", "--targets", "40", "--rate", "0"],
        cwd=tmp_path,  # any directory works; nothing may be written there
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},  # no token, no database URL: the demo needs none
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"demo: completed 40/40", out)
    stats = json.loads(out.split("process_runs.stats:", 1)[1].splitlines()[0])
    assert stats["total_jobs"] == stats["completed_jobs"] == 40
    assert stats["success_count"] + stats["error_count"] == 40
    assert "project status: stopped" in out
    assert "herald_jobs_finished_total{outcome=success}" in out
    assert list(tmp_path.iterdir()) == []
    assert set(glob.glob("/tmp/herald-demo-*")) == before


@pytest.mark.parametrize(("option", "value"), [("--targets", "0"), ("--rate", "-1")])
def test_demo_refuses_bad_options_in_one_line(option: str, value: str) -> None:
    done = subprocess.run(
        [HERALD, "demo", option, value], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert option in done.stderr
    assert "Traceback" not in done.stderr


def test_benchmark_runs_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = out.read_text()
    for row in (
        "baseline",
        "1. Herald on Postgres",
        "2. Herald on SQLite",
        "3. start",
        "4. peak RSS",
        "5. rate fidelity",
        "6. last outcome",
    ):
        assert row in table
