"""HTTP layer: Telegram's ``/bot{token}/{method}`` wire format plus the ``/_control`` API.

The control API exists for the separate-process mode (benchmarks), where the Python API of
the sandbox is out of reach.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from .methods import METHODS
from .models import BAD_GATEWAY_HTML, ApiError, Behaviour
from .operator import OperatorState
from .params import Params

log = logging.getLogger(__name__)
STATE_KEY: web.AppKey[OperatorState] = web.AppKey("sandbox", OperatorState)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError) -> web.Response:
    """Telegram's error shape; HTTP status equals error_code, 429 also sets Retry-After."""
    if error.html:
        return web.Response(status=error.code, text=BAD_GATEWAY_HTML, content_type="text/html")
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.code,
        "description": error.description,
    }
    headers = None
    if error.parameters:
        body["parameters"] = error.parameters
        if "retry_after" in error.parameters:
            headers = {"Retry-After": str(error.parameters["retry_after"])}
    return _json(body, error.code, headers)


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body (form, multipart or JSON) into one flat mapping."""
    data: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return data
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError.bad_request("can't parse JSON body") from None
        if not isinstance(body, dict):
            raise ApiError.bad_request("JSON body must be an object")
        data.update(body)
    else:
        data.update((await request.post()).items())
    return data


async def handle_api(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    token, requested = request.match_info["token"], request.match_info["method"]
    entry = METHODS.get(requested.lower())
    name = entry[0] if entry else requested
    state.stats.requests[name] += 1
    if state.token is not None and token != state.token:
        return _refuse(state, name, ApiError(401, "Unauthorized"))
    if entry is None:  # logged, so a test can see which unsupported method Herald used
        return _refuse(state, name, ApiError(404, "Not Found: method not found"))
    bot_id = token.split(":", 1)[0]
    if bot_id.isdigit() and int(bot_id) != state.bot_id:
        state.bot_id = int(bot_id)  # impersonate whichever bot talks to us, as aiogram's bot.id
    handler = entry[1]
    params: Params | None = None
    try:
        params = Params(await _read_params(request))
        result = await handler(state, params)
    except ApiError as error:
        chat = params.raw("chat_id") if params is not None else None
        state.record_call(name, state.log_chat(chat), error)
        return error_response(error)
    except Exception as exc:  # a sandbox bug: answer like Telegram's 500, but loudly
        log.exception("sandbox failed on %s", name)
        state.internal_errors.append(f"{name}: {exc!r}")
        error = ApiError(500, f"Internal Server Error: sandbox bug: {exc!r}")
        state.record_call(name, None, error)
        return error_response(error)
    state.record_call(name, state.log_chat(params.raw("chat_id")), None)
    if params.delay > 0:  # Behaviour.timeout: delivered, but the answer comes too late
        await asyncio.sleep(params.delay)
    return _json({"ok": True, "result": result})


def _refuse(state: OperatorState, method: str, error: ApiError) -> web.Response:
    state.record_call(method, None, error)
    return error_response(error)


def configure(state: OperatorState, config: dict[str, Any]) -> dict[str, int]:
    """Apply a control-API config; return chat reference -> assigned chat id."""
    for key in ("auto_channels", "rate_limit", "latency"):
        if key in config:
            setattr(state, key, config[key])
    assigned = {}
    for entry in config.get("channels", []):
        chat = entry["chat"]
        behaviour = Behaviour.from_dict(entry.get("behaviour"))
        assigned[str(chat)] = state.add_channel(
            chat,
            behaviour,
            title=entry.get("title"),
            chat_type=entry.get("chat_type"),
            admins=entry.get("admins", ()),
        )
    return assigned


async def control_channels(request: web.Request) -> web.Response:
    try:
        assigned = configure(request.app[STATE_KEY], await request.json())
    except (ValueError, KeyError, TypeError) as error:
        return _json({"ok": False, "description": f"bad config: {error}"}, 400)
    return _json({"ok": True, "channels": assigned})


async def control_stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].summary())


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return _json({"ok": True})


async def control_received(request: web.Request) -> web.Response:
    messages = request.app[STATE_KEY].received(request.query.get("chat", ""))
    return _json([msg.to_dict() for msg in messages])


async def control_operator_message(request: web.Request) -> web.Response:
    try:
        message = request.app[STATE_KEY].operator_message(**await request.json())
    except (ValueError, TypeError) as error:
        return _json({"ok": False, "description": str(error)}, 400)
    return _json({"ok": True, "result": message})


def build_app(state: OperatorState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_route("*", "/bot{token}/{method}", handle_api)
    app.router.add_post("/_control/channels", control_channels)
    app.router.add_get("/_control/stats", control_stats)
    app.router.add_post("/_control/reset", control_reset)
    app.router.add_get("/_control/received", control_received)
    app.router.add_post("/_control/operator_message", control_operator_message)
    return app
