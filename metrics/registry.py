"""The Prometheus metrics of Herald's contract, on prometheus-client's default registry.

Every metric lives here as a module-level object so the dashboard, the alert rules and the code
that updates them agree on one list of names. Labels come only from small fixed sets (outcome,
status) so the number of series never grows with channels, runs or users. Labelled counters are
pre-initialised so every series exists at 0 from start-up: ``rate()`` and ratios in alerts then
see a real zero instead of a missing series.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

#: The fixed label values, exported so callers (and tests) use exactly these strings.
JOB_OUTCOMES: Final = ("success", "error")
RUN_STATUSES: Final = ("completed", "stopped", "failed")

#: Telegram Bot API calls usually take tens to hundreds of milliseconds; the tail up to 10 s
#: covers slow uploads and an overloaded API without a bucket past the client timeout.
SEND_DURATION_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# prometheus-client appends ``_total`` to counter names itself: "herald_jobs_finished" is
# exposed as herald_jobs_finished_total.

#: One send reached a final state; the success/error split feeds the error-ratio alert and
#: its rate shows throughput. A run stalls when this stops increasing while runs are active.
JOBS_FINISHED: Final = Counter(
    "herald_jobs_finished",
    "Send jobs that reached a final state, by outcome.",
    ["outcome"],
)
for _outcome in JOB_OUTCOMES:
    JOBS_FINISHED.labels(outcome=_outcome)

#: A send failed transiently and was scheduled again; rising retries warn before errors do.
JOB_RETRIES: Final = Counter(
    "herald_job_retries",
    "Send attempts that failed transiently and were rescheduled.",
)

#: Telegram answered 429 (flood wait); a rising rate means the rate limit is set too high.
FLOOD_WAITS: Final = Counter(
    "herald_flood_waits",
    "Telegram flood-wait (HTTP 429) answers received.",
)

#: Runs started, so operators can match broadcasts to load on the dashboard.
RUNS_STARTED: Final = Counter(
    "herald_runs_started",
    "Broadcast runs started.",
)

#: How runs ended: completed by themselves, stopped by an operator, or failed.
RUNS_FINISHED: Final = Counter(
    "herald_runs_finished",
    "Broadcast runs finished, by final status.",
    ["status"],
)
for _status in RUN_STATUSES:
    RUNS_FINISHED.labels(status=_status)

#: Runs not yet final; with no finished jobs for a while this means a run is stalled.
RUNS_ACTIVE: Final = Gauge(
    "herald_runs_active",
    "Broadcast runs currently active.",
)

#: Send jobs scheduled but not yet final: the backlog the daemon still has to work through.
JOBS_PENDING: Final = Gauge(
    "herald_jobs_pending",
    "Send jobs waiting to be sent or retried.",
)

#: Latency of one Telegram send call, for the p50/p95/p99 panels.
SEND_DURATION: Final = Histogram(
    "herald_send_duration_seconds",
    "Duration of one Telegram send API call in seconds.",
    buckets=SEND_DURATION_BUCKETS,
)

#: Updates from users outside HERALD_ADMINS; a spike means someone is probing the bot.
UNAUTHORIZED_UPDATES: Final = Counter(
    "herald_unauthorized_updates",
    "Bot updates rejected because the sender is not an admin.",
)

#: The names exposed on /metrics (counters with their ``_total`` suffix), for ops-file checks.
METRIC_NAMES: Final = frozenset(
    {
        "herald_jobs_finished_total",
        "herald_job_retries_total",
        "herald_flood_waits_total",
        "herald_runs_started_total",
        "herald_runs_finished_total",
        "herald_runs_active",
        "herald_jobs_pending",
        "herald_send_duration_seconds",
        "herald_unauthorized_updates_total",
    }
)
