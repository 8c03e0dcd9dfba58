"""The HTTP API: health for the service manager, and a call endpoint for operators and the demo.

Payloads are pydantic models; a malformed body is a 422 with the field and the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import phonenumbers
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pbx_engine.dialer.service import CallRequest, DialerClosed

if TYPE_CHECKING:
    from pbx_engine.engine import Engine

ENGINE = web.AppKey("engine", "Engine")


class CallPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str
    case_id: int | None = None
    caller_id: str | None = None

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as error:
            raise ValueError(f"not a phone number in +E.164 form: {error}") from None
        if not phonenumbers.is_possible_number(parsed):
            raise ValueError("not a possible phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


async def health(request: web.Request) -> web.Response:
    checks = await request.app[ENGINE].health()
    status = 200 if all(checks.values()) else 503
    return web.json_response({"healthy": status == 200, **checks}, status=status)


async def place_call(request: web.Request) -> web.Response:
    try:
        payload = CallPayload.model_validate_json(await request.read())
    except ValidationError as error:
        problems = [
            {"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in error.errors()
        ]
        return web.json_response({"errors": problems}, status=422)
    engine = request.app[ENGINE]
    try:
        task = engine.dialer.place_call(
            CallRequest(number=payload.number, case_id=payload.case_id, caller_id=payload.caller_id)
        )
    except DialerClosed as error:
        return web.json_response({"error": str(error)}, status=503)
    return web.json_response({"channel_id": task.get_name()}, status=202)


async def get_attempt(request: web.Request) -> web.Response:
    attempt = await request.app[ENGINE].storage.get_attempt(request.match_info["channel_id"])
    if attempt is None:
        return web.json_response({"error": "no such attempt"}, status=404)
    return web.json_response(attempt.as_json())


def build_app(engine: Engine) -> web.Application:
    app = web.Application()
    app[ENGINE] = engine
    app.router.add_get("/health", health)
    app.router.add_post("/calls", place_call)
    app.router.add_get("/attempts/{channel_id}", get_attempt)
    return app
