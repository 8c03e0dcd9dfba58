"""The API of what happens on a live call: recording pause/resume and the recordings kept.

Same conventions as `web.api`: bearer tokens, JSON bodies checked by pydantic, JSON errors.
An agent acts on the call he is on; supervisors and admins on any call.
"""

from __future__ import annotations

from aiohttp import web

from pbx_engine.recording.service import RecordingError
from pbx_engine.storage.models import AgentRow
from pbx_engine.web.api import AGENT, ENGINE, SUPERVISORS, error_response


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


def add_call_routes(app: web.Application) -> None:
    app.router.add_post("/calls/{channel_id}/recording/{action}", recording_action)
    app.router.add_get("/attempts/{channel_id}/recordings", attempt_recordings)
    app.router.add_get("/recordings/{name}", recording_file)
