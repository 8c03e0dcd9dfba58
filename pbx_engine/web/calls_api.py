"""The API of what happens on a live call: recording pause/resume and the recordings kept,
supervision (listen, whisper, barge) and its audit log.

Same conventions as `web.api`: bearer tokens, JSON bodies checked by pydantic, JSON errors.
An agent acts on the call he is on; supervisors and admins on any call.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from pbx_engine.recording.service import RecordingError
from pbx_engine.storage.models import AgentRow
from pbx_engine.supervision import SupervisionMode
from pbx_engine.supervision.service import SupervisionError
from pbx_engine.web.api import (
    AGENT,
    ENGINE,
    SUPERVISORS,
    Payload,
    PlusE164,
    error_response,
    read_body,
)


class SupervisePayload(Payload):
    agent: str = Field(min_length=1)
    mode: SupervisionMode = SupervisionMode.LISTEN
    # Where to ring the supervisor (+E.164, through the trunk); else his softphone.
    number: PlusE164 | None = None


class ModePayload(Payload):
    mode: SupervisionMode


def _on_call_or_supervisor(request: web.Request, channel_id: str) -> web.Response | None:
    me: AgentRow = request[AGENT]
    if me.role in SUPERVISORS:
        return None
    status = request.app[ENGINE].agents.status(me.login)
    if status is None or status.call_id != channel_id:
        return error_response(404, "no such call of yours")
    return None


async def recording_action(request: web.Request) -> web.Response:
    """`POST /calls/{channel_id}/recording/pause|resume`."""
    channel_id, action = request.match_info["channel_id"], request.match_info["action"]
    if denied := _on_call_or_supervisor(request, channel_id):
        return denied
    recorder = request.app[ENGINE].recorder
    try:
        if action == "pause":
            await recorder.pause(channel_id, request[AGENT].id)
        elif action == "resume":
            await recorder.resume(channel_id)
        else:
            return error_response(404, f"no recording action {action!r}")
    except RecordingError as error:
        return error_response(409, str(error))
    return web.json_response(
        {"recordings": recorder.recording(channel_id), "paused": recorder.is_paused(channel_id)}
    )


async def attempt_recordings(request: web.Request) -> web.Response:
    """`GET /attempts/{channel_id}/recordings`: the files of a call and its pauses."""
    engine = request.app[ENGINE]
    attempt = await engine.storage.get_attempt(request.match_info["channel_id"])
    me: AgentRow = request[AGENT]
    if attempt is None or (me.role not in SUPERVISORS and attempt.agent_id != me.id):
        return error_response(404, "no such call")
    return web.json_response(
        {
            "recordings": await engine.storage.recordings_of_attempt(attempt.id),
            "pauses": await engine.storage.recording_pauses(attempt.id),
        }
    )


async def recording_file(request: web.Request) -> web.StreamResponse:
    """`GET /recordings/{name}`: the audio file, from Asterisk's recordings folder."""
    engine = request.app[ENGINE]
    row = await engine.storage.recording_by_name(request.match_info["name"])
    me: AgentRow = request[AGENT]
    if row is None or (me.role not in SUPERVISORS and row["agent_id"] != me.id):
        return error_response(404, "no such recording")
    if row["deleted_at"] is not None:
        return error_response(410, "deleted at the end of its retention period")
    audio = await engine.ari.get_stored_recording_file(row["name"])
    return web.Response(
        body=audio,
        content_type="audio/wav",
        headers={"Content-Disposition": f'attachment; filename="{row["name"]}.wav"'},
    )


def _supervisor_only(request: web.Request) -> web.Response | None:
    if request[AGENT].role not in SUPERVISORS:
        return error_response(403, "supervisors only")
    return None


async def supervise(request: web.Request) -> web.Response:
    """`POST /supervision {agent, mode, number?}`: ring the supervisor and connect him to the
    agent's live call."""
    if denied := _supervisor_only(request):
        return denied
    payload = await read_body(request, SupervisePayload)
    if isinstance(payload, web.Response):
        return payload
    try:
        session = await request.app[ENGINE].supervision.start(
            request[AGENT], payload.agent, payload.mode, number=payload.number
        )
    except SupervisionError as error:
        return error_response(error.status, str(error))
    return web.json_response(session.as_json(), status=201)


async def supervision_mode(request: web.Request) -> web.Response:
    """`POST /supervision/mode {mode}`: switch listen / whisper / barge during the call."""
    if denied := _supervisor_only(request):
        return denied
    payload = await read_body(request, ModePayload)
    if isinstance(payload, web.Response):
        return payload
    try:
        session = await request.app[ENGINE].supervision.switch(request[AGENT].login, payload.mode)
    except SupervisionError as error:
        return error_response(error.status, str(error))
    return web.json_response(session.as_json())


async def stop_supervision(request: web.Request) -> web.Response:
    if denied := _supervisor_only(request):
        return denied
    try:
        await request.app[ENGINE].supervision.stop(request[AGENT].login)
    except SupervisionError as error:
        return error_response(error.status, str(error))
    return web.json_response({"stopped": True})


async def supervision_sessions(request: web.Request) -> web.Response:
    if denied := _supervisor_only(request):
        return denied
    return web.json_response([s.as_json() for s in request.app[ENGINE].supervision.sessions()])


async def supervision_log(request: web.Request) -> web.Response:
    """Every listen, whisper, barge and stop, newest first."""
    if denied := _supervisor_only(request):
        return denied
    return web.json_response(await request.app[ENGINE].storage.supervision_log())


def add_call_routes(app: web.Application) -> None:
    app.router.add_post("/supervision", supervise)
    app.router.add_get("/supervision", supervision_sessions)
    app.router.add_post("/supervision/mode", supervision_mode)
    app.router.add_delete("/supervision", stop_supervision)
    app.router.add_get("/supervision/log", supervision_log)
    app.router.add_post("/calls/{channel_id}/recording/{action}", recording_action)
    app.router.add_get("/attempts/{channel_id}/recordings", attempt_recordings)
    app.router.add_get("/recordings/{name}", recording_file)
