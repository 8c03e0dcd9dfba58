"""The API of what happens on a live call: recording pause/resume and the recordings kept,
supervision (listen, whisper, barge) and its audit log, third parties on an agent's call and
handing it over to a colleague.

Same conventions as `web.api`: bearer tokens, JSON bodies checked by pydantic, JSON errors.
An agent acts on the call he is on; supervisors and admins on any call.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field, model_validator

from pbx_engine.agents.service import AgentError
from pbx_engine.recording.health import failure_text
from pbx_engine.storage.models import AgentRow
from pbx_engine.supervision import SupervisionMode
from pbx_engine.web.common import (
    AGENT,
    AGENTS,
    CASES,
    CONNECTOR,
    PARTIES,
    RECORDER,
    SUPERVISION,
    SUPERVISORS,
    Payload,
    PlusE164,
    audit,
    error_response,
    read_body,
    require_role,
)


class SupervisePayload(Payload):
    agent: str = Field(min_length=1)
    mode: SupervisionMode = SupervisionMode.LISTEN
    # Where to ring the supervisor (+E.164, through the trunk); else his softphone.
    number: PlusE164 | None = None


class ModePayload(Payload):
    mode: SupervisionMode


class PartyPayload(Payload):
    """Exactly one of: a phone number (+E.164) or a colleague's login."""

    number: PlusE164 | None = None
    agent: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> PartyPayload:
        if (self.number is None) == (self.agent is None):
            raise ValueError("give either a number or an agent")
        return self


def _on_call_or_supervisor(request: web.Request, channel_id: str) -> web.Response | None:
    me: AgentRow = request[AGENT]
    if me.role in SUPERVISORS:
        return None
    status = request.app[AGENTS].status(me.login)
    if status is None or status.call_id != channel_id:
        return error_response(404, "no such call of yours")
    return None


async def recording_action(request: web.Request) -> web.Response:
    """`POST /calls/{channel_id}/recording/pause|resume`."""
    channel_id, action = request.match_info["channel_id"], request.match_info["action"]
    if denied := _on_call_or_supervisor(request, channel_id):
        return denied
    recorder = request.app[RECORDER]
    if action == "pause":
        await recorder.pause(channel_id, request[AGENT].id)
    elif action == "resume":
        await recorder.resume(channel_id)
    else:
        return error_response(404, f"no recording action {action!r}")
    return web.json_response(
        {"recordings": recorder.recording(channel_id), "paused": recorder.is_paused(channel_id)}
    )


async def attempt_recordings(request: web.Request) -> web.Response:
    """`GET /attempts/{channel_id}/recordings`: the files of a call, its pauses, and the
    recordings that did not start or failed (the call went on unrecorded)."""
    attempt = await request.app[CASES].attempt(request[AGENT], request.match_info["channel_id"])
    recorder = request.app[RECORDER]
    recordings, pauses = await recorder.kept(attempt.id)
    failures = await recorder.failures(attempt.id)
    return web.json_response(
        {
            "recordings": [r.as_json() for r in recordings],
            "pauses": [p.as_json() for p in pauses],
            "failures": [{**f.as_json(), "text": failure_text(f.reason)} for f in failures],
        }
    )


async def recording_file(request: web.Request) -> web.StreamResponse:
    """`GET /recordings/{name}`: the audio file, from Asterisk's recordings folder (404 for
    another agent's, 410 once deleted)."""
    name = request.match_info["name"]
    audio = await request.app[RECORDER].stored_file(request[AGENT], name)
    return web.Response(
        body=audio,
        content_type="audio/wav",
        headers={"Content-Disposition": f'attachment; filename="{name}.wav"'},
    )


async def supervise(request: web.Request) -> web.Response:
    """`POST /supervision {agent, mode, number?}`: ring the supervisor and connect him to the
    agent's live call."""
    if denied := require_role(request):
        return denied
    payload = await read_body(request, SupervisePayload)
    if isinstance(payload, web.Response):
        return payload
    await audit(request, f"supervise_{payload.mode.value}", payload.agent)
    session = await request.app[SUPERVISION].start(
        request[AGENT], payload.agent, payload.mode, number=payload.number
    )
    return web.json_response(session.as_json(), status=201)


async def supervision_mode(request: web.Request) -> web.Response:
    """`POST /supervision/mode {mode}`: switch listen / whisper / barge during the call."""
    if denied := require_role(request):
        return denied
    payload = await read_body(request, ModePayload)
    if isinstance(payload, web.Response):
        return payload
    await audit(request, f"supervise_{payload.mode.value}", "current session")
    session = await request.app[SUPERVISION].switch(request[AGENT].login, payload.mode)
    return web.json_response(session.as_json())


async def stop_supervision(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    await audit(request, "supervise_stop", "current session")
    await request.app[SUPERVISION].stop(request[AGENT].login)
    return web.json_response({"stopped": True})


async def supervision_sessions(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    return web.json_response([s.as_json() for s in request.app[SUPERVISION].sessions()])


async def supervision_log(request: web.Request) -> web.Response:
    """Every listen, whisper, barge and stop, newest first."""
    if denied := require_role(request):
        return denied
    entries = await request.app[SUPERVISION].log()
    return web.json_response([e.as_json() for e in entries])


async def add_party(request: web.Request) -> web.Response:
    """`POST /agents/me/call/parties {number | agent}`: dial a third party into my call;
    answers once the party is on it (or could not be reached: 409)."""
    payload = await read_body(request, PartyPayload)
    if isinstance(payload, web.Response):
        return payload
    parties, me = request.app[PARTIES], request[AGENT].login
    if payload.number is not None:
        party = await parties.add_number(me, payload.number)
    else:
        party = await parties.add_agent(me, payload.agent)
    return web.json_response(party.as_json(), status=201)


async def list_parties(request: web.Request) -> web.Response:
    parties = request.app[PARTIES].parties_of(request[AGENT].login)
    return web.json_response([p.as_json() for p in parties])


async def drop_party(request: web.Request) -> web.Response:
    party = await request.app[PARTIES].drop(request[AGENT].login, request.match_info["party_id"])
    return web.json_response(party.as_json())


class TransferPayload(Payload):
    agent: str = Field(min_length=1)  # the colleague's login (the case's owner, say)


async def transfer(request: web.Request) -> web.Response:
    """`POST /agents/me/call/transfer {agent}`: hand the debtor on my call over to a ready
    colleague; answers once he has him (409 if he is not ready or the call cannot move)."""
    payload = await read_body(request, TransferPayload)
    if isinstance(payload, web.Response):
        return payload
    agents, me = request.app[AGENTS], request[AGENT].login
    try:
        bridged_at = await agents.hand_over(me, payload.agent)
    except AgentError as error:
        return error_response(409, str(error))
    return web.json_response({"agent": payload.agent, "bridged_at": bridged_at.isoformat()})


async def end_call(request: web.Request) -> web.Response:
    """`POST /agents/me/call/end`: end my call; the debtor hears the campaign's survey if it
    has one (else is hung up on), and I go into wrap-up (409 if I have no call to end)."""
    try:
        survey = await request.app[CONNECTOR].end_call(request[AGENT].login)
    except AgentError as error:
        return error_response(409, str(error))
    return web.json_response({"ended": True, "survey": survey})


def add_call_routes(app: web.Application) -> None:
    app.router.add_post("/agents/me/call/end", end_call)
    app.router.add_post("/agents/me/call/transfer", transfer)
    app.router.add_post("/agents/me/call/parties", add_party)
    app.router.add_get("/agents/me/call/parties", list_parties)
    app.router.add_delete("/agents/me/call/parties/{party_id}", drop_party)
    app.router.add_post("/supervision", supervise)
    app.router.add_get("/supervision", supervision_sessions)
    app.router.add_post("/supervision/mode", supervision_mode)
    app.router.add_delete("/supervision", stop_supervision)
    app.router.add_get("/supervision/log", supervision_log)
    app.router.add_post("/calls/{channel_id}/recording/{action}", recording_action)
    app.router.add_get("/attempts/{channel_id}/recordings", attempt_recordings)
    app.router.add_get("/recordings/{name}", recording_file)
