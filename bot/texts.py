"""Every text an operator reads, in one place: replies, refusals, progress, notices.

Plain text (the bot's default parse mode is None), so names and chats typed by
operators are shown as they are and cannot break the markup. Whatever an
operator typed is echoed shortened, and every reply is cut to fit one message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from herald import errors
from herald.db.captures import Captured
from herald.db.chats import Rejection
from herald.db.models import Message, RunStatus
from herald.db.projects import TargetsAdded, TargetsRemoved, valid_name
from herald.db.queries import Overview, Progress, ProjectLine, RunView

#: Telegram's limit is 4096 UTF-16 units; stay clear of it.
MAX_REPLY = 3900
#: (command, arguments, what it does): /help, usage hints and setMyCommands.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("new", "NAME", "create a project (NAME: 1-64 of a-z 0-9 _ -)"),
    ("targets", "NAME CHAT...", "add targets: @username, t.me/username or a -100… id"),
    ("untarget", "NAME CHAT...", "remove targets"),
    ("message", "NAME [TEXT]", "add TEXT, or else the next message you send"),
    ("cancel", "", "abandon a pending /message"),
    ("clear", "NAME", "remove all messages of a project"),
    ("show", "NAME", "targets, messages, status and last run"),
    ("preview", "NAME", "see the messages here exactly as targets will"),
    ("projects", "", "every project with its status"),
    ("delete", "NAME", "delete a project that is not running"),
    ("run", "NAME", "send every message to every target"),
    ("pause", "NAME", "pause the active run"),
    ("resume", "NAME", "resume a paused run"),
    ("stop", "NAME", "stop the active run; unsent jobs are cancelled"),
    ("status", "NAME", "status and the latest run"),
    ("runs", "NAME", "the last runs with their numbers"),
    ("help", "", "this list"),
)
_ICON = {"running": "▶️", "paused": "⏸", "completed": "✅", "stopped": "⏹", "failed": "❌"}
_REJECTIONS = {
    Rejection.NOT_A_CHAT: "not a @username, t.me/username link or -100… id",
    Rejection.BAD_USERNAME: "usernames are 5-32 of a-z 0-9 _, starting with a letter",
    Rejection.BAD_ID: "channel and group ids start with -100",
    Rejection.INVITE_LINK: "an invite link names no chat; add the bot, then use the -100… id",
    Rejection.PRIVATE_LINK: "a private post link; use -100 followed by the number after /c/",
}
UNAUTHORIZED = "Sorry, this bot is private."
UNAUTHORIZED_BUTTON = "Not allowed."
RUN_OVER = "This run is over."
INTERNAL_ERROR = (
    "Something went wrong on my side (it is logged). "
    "Check with /show or /status before trying again."
)
NOTHING_TO_CANCEL = "Nothing to cancel: no /message is waiting for a message."
NOT_CAPTURING = "To broadcast this, first send /message NAME, then the message. /help lists all."
BUTTONS = {"pause": "⏸ Pause", "resume": "▶️ Resume", "stop": "⏹ Stop"}
BUTTON_DONE = {"pause": "Paused.", "resume": "Resumed.", "stop": "Stopping…"}


def fit(text: str, limit: int = MAX_REPLY) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: str, limit: int = 64) -> str:
    """What an operator typed, quoted and shortened (it may be huge or odd)."""
    value = " ".join(value.split())
    return "“" + (value if len(value) <= limit else value[: limit - 1] + "…") + "”"


def _listing(items: Sequence[str], limit: int = 20) -> str:
    more = f", …and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def when(moment: datetime) -> str:
    return moment.strftime("%d %b %H:%M UTC")


def help_text() -> str:
    lines = ["Herald sends your messages to your channels.", ""]
    lines += [f"/{c} {a}".rstrip() + f" — {what}" for c, a, what in COMMANDS]
    return "\n".join(lines)


def usage(command: str) -> str:
    for c, args, what in COMMANDS:
        if c == command:
            return f"Usage: /{c} {args}".rstrip() + f" — {what}."
    return unknown_command(command)


def unknown_command(command: str) -> str:
    return f"Unknown command {shown('/' + command, 40)}. /help lists the commands."


# --- refusals -------------------------------------------------------------


def _suggest(name: str) -> str:
    cleaned = "".join(c for c in name.lower().replace(" ", "-") if c.isascii() and valid_name(c))
    return cleaned[:64] or "news"


def refusal(exc: errors.Refusal) -> str:
    name = exc.project or ""
    if isinstance(exc, errors.UnknownProject):
        create = f" or /new {name} to create it" if valid_name(name) else ""
        return f"There is no project {shown(name)}. See /projects{create}."
    if isinstance(exc, errors.BadName):
        return (
            f"{shown(name)} can't be a project name: use 1-64 of a-z 0-9 _ -,"
            f" for example /new {_suggest(name)}."
        )
    texts: dict[type[errors.Refusal], str] = {
        errors.DuplicateName: f"{name} exists already. Pick another name, or /show {name}.",
        errors.NoTargets: f"{name} has no targets, so a run would send nothing."
        f" Add some first: /targets {name} @channel",
        errors.NoMessages: f"{name} has no messages, so a run would send nothing."
        f" Add one first: /message {name} TEXT",
        errors.AlreadyRunning: f"{name} is running already. Follow it with /status {name},"
        f" or /stop {name} first.",
        errors.NotRunning: f"{name} is not running (/status {name} shows where it is)."
        f" /run {name} starts a run.",
        errors.NotPaused: f"{name} is not paused. /status {name} shows where it is;"
        f" /pause {name} pauses it.",
        errors.ProjectActive: f"{name} has an active run. /stop {name} first, then try again.",
    }
    return texts.get(type(exc), f"Refused: {exc.__doc__}")


# --- projects ---------------------------------------------------------------


def created(name: str) -> str:
    return f"Created {name}. Next: /targets {name} @channel, then /message {name}."


def deleted(name: str) -> str:
    return f"Deleted {name} with its targets, messages and run history."


def projects(lines: Sequence[ProjectLine]) -> str:
    if not lines:
        return "No projects yet. /new NAME creates one."
    rows = [
        f"• {p.name} — {p.status} · {plural(p.targets, 'target')} · {plural(p.messages, 'message')}"
        for p in lines
    ]
    return fit("Projects:\n" + "\n".join(rows))


def targets_added(result: TargetsAdded) -> str:
    lines = [f"{result.project}: {len(result.added)} target(s) added"]
    if result.added:
        lines[0] += f": {_listing(result.added)}"
    if result.duplicates:
        lines.append(f"Already there: {_listing(result.duplicates)}")
    lines += _rejected(result.rejected)
    return fit("\n".join(lines))


def targets_removed(result: TargetsRemoved) -> str:
    lines = [f"{result.project}: {len(result.removed)} target(s) removed"]
    if result.removed:
        lines[0] += f": {_listing(result.removed)}"
    if result.missing:
        lines.append(f"Not a target of {result.project}: {_listing(result.missing)}")
    lines += _rejected(result.rejected)
    return fit("\n".join(lines))


def _rejected(rejected: Sequence[tuple[str, Rejection]], limit: int = 10) -> list[str]:
    if not rejected:
        return []
    lines = ["Not added:"] + [f"• {shown(raw, 40)} — {_REJECTIONS[r]}" for raw, r in rejected]
    if len(rejected) > limit:
        lines = [*lines[: limit + 1], f"…and {len(rejected) - limit} more"]
    return lines


def describe_message(message: Message) -> str:
    content = message.content or {}
    body = content.get("text") if message.kind == "text" else content.get("caption")
    snippet = f" {shown(body, 40)}" if body else ""
    return f"{message.kind}{snippet}"


def overview(view: Overview) -> str:
    lines = [f"{view.name} — {view.status}", f"Targets ({len(view.targets)}):"]
    lines[-1] += f" {_listing(view.targets)}" if view.targets else " none yet"
    lines.append(f"Messages ({len(view.messages)}):" + ("" if view.messages else " none yet"))
    lines += [f"{m.position + 1}. {describe_message(m)}" for m in view.messages[:20]]
    if len(view.messages) > 20:
        lines.append(f"…and {len(view.messages) - 20} more")
    lines.append(f"Schedule: {view.schedule or 'none'}")
    lines.append("Last run: " + (run_line(view.last_run) if view.last_run else "never"))
    return fit("\n".join(lines))


def status(view: Overview) -> str:
    head = f"{view.name}: {view.status}"
    if view.last_run is None:
        return f"{head}. No runs yet; /run {view.name} starts one."
    run = view.last_run
    extra = f" · {run.retrying} retrying" if run.retrying else ""
    return f"{head}\nLatest run: {run_line(run)}{extra}"


def run_line(run: RunView) -> str:
    s = run.stats
    line = (
        f"{run.status} {s['completed_jobs']}/{s['total_jobs']}"
        f" ({s['success_count']} sent, {s['error_count']} errors), started {when(run.created_at)}"
    )
    if run.finished_at:
        line += f", took {duration((run.finished_at - run.created_at).total_seconds())}"
    return line


def runs(name: str, views: Sequence[RunView]) -> str:
    if not views:
        return f"{name} has not run yet. /run {name} starts it."
    return fit(f"Last runs of {name}:\n" + "\n".join(f"• {run_line(v)}" for v in views))


# --- messages ---------------------------------------------------------------

KINDS = "text, a photo, video, document, audio, animation, voice or sticker"


def capture_started(name: str) -> str:
    return f"Send the message for {name} now ({KINDS}). /cancel abandons."


def captured(result: Captured) -> str:
    return f"Added message {result.number} to {result.project} ({result.kind})."


def not_capturable(what: str) -> str:
    return f"This message ({what}) can't be broadcast. Send {KINDS}, or /cancel."


def capture_cancelled(name: str) -> str:
    return f"Abandoned: no message was added to {name}."


def cleared(name: str, count: int) -> str:
    return f"Removed {count} message(s) from {name}. /message {name} adds new ones."


def preview_header(name: str, count: int) -> str:
    return f"Preview of {name}: {count} message(s), exactly as targets will get them."


def preview_failed(number: int, reason: str) -> str:
    return f"Message {number} could not be shown: {shown(reason, 200)}"


# --- runs ---------------------------------------------------------------------


def _bar(done: int, total: int, width: int = 16) -> str:
    filled = width if total <= 0 else min(width, math.floor(width * done / total))
    return "▓" * filled + "░" * (width - filled)


def _eta(run: RunView, now: datetime) -> str:
    s = run.stats
    done, total = s["completed_jobs"], s["total_jobs"]
    if run.status == RunStatus.PAUSED:
        return "ETA: paused"
    if done <= 0:
        return "ETA: estimating…"
    elapsed = (now - run.created_at).total_seconds()
    return f"ETA: ~{duration(max(1.0, elapsed / done * (total - done)))}"


def progress(view: Progress, now: datetime) -> str:
    """The progress message: edited while the run goes, and once more at its end."""
    run, s = view.run, view.run.stats
    done, total = s["completed_jobs"], s["total_jobs"]
    percent = 100 if total <= 0 else math.floor(100 * done / total)
    lines = [
        f"{_ICON.get(run.status, '')} {view.project} — {run.status}",
        f"{_bar(done, total)} {percent}%",
        f"{done}/{total} jobs done",
        f"✅ {s['success_count']} sent · ❌ {s['error_count']} errors",
    ]
    if run.status in (RunStatus.RUNNING, RunStatus.PAUSED):
        lines[-1] += f" · 🔁 {run.retrying} retries waiting"
        lines.append(_eta(run, now))
    elif run.cancelled:
        lines.append(f"⏹ {run.cancelled} cancelled, never sent")
    return "\n".join(lines)


def notice(view: Progress, failures: Sequence[tuple[str, str]], more: bool) -> str:
    """The completion notice, a new message: first line `<status> <completed>/<total>`."""
    run, s = view.run, view.run.stats
    lines = [
        f"{_ICON.get(run.status, '')} {view.project}: {run.status}"
        f" {s['completed_jobs']}/{s['total_jobs']}",
        f"Sent: {s['success_count']} · Errors: {s['error_count']}",
    ]
    if run.cancelled:
        lines.append(f"Cancelled: {run.cancelled} job(s), never sent")
    if run.finished_at:
        lines.append(f"Duration: {duration((run.finished_at - run.created_at).total_seconds())}")
    if failures:
        lines.append("Failed targets:")
        lines += [f"• {chat} — {shown(reason, 120)[1:-1]}" for chat, reason in failures]
        if more:
            lines.append("…and more: /runs " + view.project)
    return fit("\n".join(lines))


def stopped(name: str, cancelled: int) -> str:
    return f"⏹ Stopped {name}: {cancelled} unsent job(s) cancelled; nothing more is sent."


def paused(view: Progress) -> str:
    s = view.run.stats
    return (
        f"⏸ Paused {view.project} at {s['completed_jobs']}/{s['total_jobs']}."
        f" /resume {view.project} continues."
    )


def resumed(view: Progress) -> str:
    s = view.run.stats
    left = s["total_jobs"] - s["completed_jobs"]
    return f"▶️ Resumed {view.project}: {left} job(s) to go."
