"""The operations files agree with the code: alert rules, Grafana dashboard, systemd unit, env.

promtool (Debian `prometheus`) and systemd-analyze (`systemd`) are used when present, else skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from herald.metrics import registry

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "metrics" / "alerts.yml"
DASHBOARD = ROOT / "metrics" / "grafana" / "herald.json"
UNIT = ROOT / "systemd" / "herald.service"
ENV_EXAMPLE = ROOT / "systemd" / "herald.env.example"

#: The configuration contract: every variable, with the value the example file gives it.
ENV_EXAMPLE_VALUES = {
    "HERALD_BOT_TOKEN": "123456789:replace-with-the-token-from-BotFather",  # commented out
    "HERALD_TELEGRAM_API": "https://api.telegram.org",
    "HERALD_DATABASE_URL": "sqlite://herald.db",
    "HERALD_ADMINS": "",
    "HERALD_METRICS_HOST": "127.0.0.1",
    "HERALD_METRICS_PORT": "9120",
    "HERALD_MAX_ATTEMPTS": "3",
    "HERALD_RATE_LIMIT": "25",
}
HERALD_NAME = re.compile(r"\bherald_\w+")


def _exposed_sample_names() -> set[str]:
    """Every herald_* series name /metrics can show (with _total, _bucket, _count, _sum)."""
    return {
        sample.name
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name.startswith("herald_")
    }


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


# --- alert rules -------------------------------------------------------------------------------


def test_alert_rules_use_only_exposed_metrics() -> None:
    used = set(HERALD_NAME.findall(ALERTS.read_text()))
    assert used, "alerts.yml names no herald metric"
    assert used <= _exposed_sample_names()


def test_alert_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 rules found" in result.stdout


def _without_annotations(text: str) -> str:
    """alerts.yml minus `annotations:`: promtool tests compare them exactly; prose isn't pinned."""
    out: list[str] = []
    skip_deeper_than: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not line.strip() or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if line.strip() == "annotations:":
            skip_deeper_than = indent
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def _series(instance: str, name: str, values: str, **labels: str) -> dict[str, str]:
    rendered = ",".join(
        f'{k}="{v}"' for k, v in {"job": "herald", "instance": instance, **labels}.items()
    )
    return {"series": f"{name}{{{rendered}}}", "values": values}


def _firing(alert: str, at: str, *instances: str, severity: str) -> dict[str, Any]:
    """Expect `alert` firing at `at` for exactly `instances` (none: not firing anywhere)."""
    # Rules aggregate `by (instance)`; only HeraldDown keeps `up`'s job label.
    kept = {"job": "herald"} if alert == "HeraldDown" else {}
    expected = [{"exp_labels": {"severity": severity, "instance": i, **kept}} for i in instances]
    return {"eval_time": at, "alertname": alert, "exp_alerts": expected}


def test_alert_rules_fire_on_synthetic_series(tmp_path: Path) -> None:
    """promtool replays made-up series (1 sample a minute): each alert fires where it should."""
    promtool = _promtool()
    rules = tmp_path / "rules.yml"
    rules.write_text(_without_annotations(ALERTS.read_text()))
    done, ok, err = "herald_jobs_finished_total", {"outcome": "success"}, {"outcome": "error"}
    flood = "herald_flood_waits_total"
    cases = [
        (  # "a" finishes sends for 5 minutes then stalls with a run active; "b" keeps going.
            [
                _series("a", "herald_runs_active", "1x40"),
                _series("a", done, "0+5x5 25x35", **ok),
                _series("b", "herald_runs_active", "1x40"),
                _series("b", done, "0+5x40", **ok),
            ],
            [
                _firing("HeraldRunStalled", "10m", severity="critical"),
                _firing("HeraldRunStalled", "25m", "a", severity="critical"),
            ],
        ),
        (  # "a": 1/3 errors at volume; "b": half errors but ~10 sends per 10 min; "c": idle.
            [
                _series("a", done, "0+10x30", **ok),
                _series("a", done, "0+5x30", **err),
                _series("b", done, "0+0.5x30", **ok),
                _series("b", done, "0+0.5x30", **err),
                _series("c", done, "0x30", **ok),
                _series("c", done, "0x30", **err),
            ],
            [_firing("HeraldHighErrorRatio", "20m", "a", severity="warning")],
        ),
        (  # "a": none for 10 min then 2/min (rising); "b": a steady 2/min (not rising).
            [_series("a", flood, "0x10 0+2x30"), _series("b", flood, "0+2x40")],
            [
                _firing("HeraldFloodWaitsRising", "12m", severity="warning"),
                _firing("HeraldFloodWaitsRising", "30m", "a", severity="warning"),
            ],
        ),
        (
            [_series("a", "up", "1 1 0 0 0 0 0"), _series("b", "up", "1 1 1 1 1 1 1")],
            [
                _firing("HeraldDown", "3m", severity="critical"),
                _firing("HeraldDown", "5m", "a", severity="critical"),
            ],
        ),
    ]
    groups = [{"interval": "1m", "input_series": i, "alert_rule_test": t} for i, t in cases]
    tests = tmp_path / "tests.yml"  # JSON is valid YAML
    tests.write_text(json.dumps({"rule_files": [str(rules)], "tests": groups}))
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana dashboard -------------------------------------------------------------------------


def test_dashboard_is_importable_json_with_a_datasource_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["title"] == "Herald"
    assert dashboard["uid"]
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}, panel["title"]
        # Every query goes through the variable, so import needs no datasource rewriting.
        for source in [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]:
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_dashboard_queries_use_only_exposed_metrics_and_cover_them_all() -> None:
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p["targets"]]
    used = {name for expr in exprs for name in HERALD_NAME.findall(expr)}
    assert used <= _exposed_sample_names()
    for name in registry.METRIC_NAMES:
        assert name in used or f"{name}_bucket" in used, f"no panel shows {name}"


def test_dashboard_has_the_agreed_panels() -> None:
    panels = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in _dashboard()["panels"]}
    assert "by (outcome)" in panels["Sends by outcome"]
    assert {"herald_flood_waits_total", "herald_job_retries_total"} <= set(
        HERALD_NAME.findall(panels["Retries and flood waits"])
    )
    assert all(f"histogram_quantile({q}," in panels["Send latency"] for q in (0.5, 0.95, 0.99))
    assert "by (status)" in panels["Runs in the selected range"]
    assert "herald_runs_active" in panels["Active runs"]
    assert "herald_jobs_pending" in panels["Pending jobs"]
    assert "herald_unauthorized_updates_total" in panels["Unauthorized updates"]


# --- systemd -----------------------------------------------------------------------------------


def _unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def test_unit_has_the_agreed_settings() -> None:
    d = _unit_directives()
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "5",
        "EnvironmentFile": "/etc/herald/herald.env",
        "StateDirectory": "herald",
        "WorkingDirectory": "/var/lib/herald",
        "TimeoutStopSec": "30",
        "KillMode": "mixed",
        "ProtectSystem": "strict",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], key
    assert d["ExecStartPre"][0].endswith("/herald migrate")
    assert d["ExecStart"][0].endswith("/herald serve")


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verify a copy whose commands are /bin/true: verify insists the binaries exist."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    text = re.sub(r"(?m)^(ExecStart(?:Pre)?)=.*$", r"\1=/bin/true", UNIT.read_text())
    copy = tmp_path / "herald.service"
    copy.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 and str(copy) not in output and "herald.service" not in output:
        pytest.skip(f"systemd-analyze verify does not work here: {output.strip()[:200]}")
    # verify exits 0 on unknown keys and bad values but names the file and line: fail on any.
    assert result.returncode == 0, output
    assert str(copy) not in output, output

    # The hardening keeps systemd's exposure score low (threshold is 0-100, 20 = "2.0 OK").
    security_cmd = [analyze, "security", "--offline=true", "--threshold=20", str(copy)]
    security = subprocess.run(security_cmd, capture_output=True, text=True, check=False)
    if "Overall exposure level" in security.stdout:
        assert security.returncode == 0, security.stdout[-300:]


# --- environment file --------------------------------------------------------------------------


def _env_example_assignments() -> dict[str, str]:
    """Every VAR=value line, commented out or not (a commented one documents a variable)."""
    pattern = re.compile(r"^#?\s*(HERALD_[A-Z_]+)=(.*)$")
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = pattern.match(line)
        if match and not line.startswith("#   "):  # indented: an example inside a comment
            found[match.group(1)] = match.group(2)
    return found


def test_env_example_documents_exactly_the_contract_variables_with_defaults() -> None:
    assert _env_example_assignments() == ENV_EXAMPLE_VALUES
    mentioned = set(re.findall(r"\bHERALD_[A-Z_]+\b", ENV_EXAMPLE.read_text()))
    assert mentioned == set(ENV_EXAMPLE_VALUES)


def test_env_example_is_accepted_by_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The uncommented lines, as systemd would pass them, load without error."""
    config = pytest.importorskip("herald.config")
    for name in ENV_EXAMPLE_VALUES:
        monkeypatch.delenv(name, raising=False)
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("HERALD_"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = config.Settings(_env_file=None)
    assert settings.metrics_port == 9120
    assert settings.admins == frozenset()
