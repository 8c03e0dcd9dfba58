"""The API of conference rooms, and the invitation pages a participant opens in a browser.

    GET    /rooms                       every room, with how many are in it
    POST   /rooms                       make a room (the maker is its moderator by default)
    GET    /rooms/{name}                the room and its members
    DELETE /rooms/{name}                a room made through the API (moderator, supervisors)
    POST   /rooms/{name}/dial           ring a number into the room (moderator, supervisors)
    POST   /rooms/{name}/members/{id}/mute|unmute|kick   (moderator, supervisors)
    POST   /rooms/{name}/invitations    a signed link valid `valid_seconds` (moderator, sup.)
    GET    /join/{token}                the invitation page: enter the number to be called at
    POST   /join/{token}                the engine calls that number into the room

The `/join` pages need no account: the signed token is the permission, and it expires.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from aiohttp import web
from pydantic import Field

from pbx_engine.conferences.invitations import Invitation, InvitationError, make_token, read_token
from pbx_engine.conferences.room_service import RoomError
from pbx_engine.conferences.rooms import Room
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.storage.models import AgentRow
from pbx_engine.tasks import OwnedTasks
from pbx_engine.web.api import (
    AGENT,
    ENGINE,
    SUPERVISORS,
    Payload,
    PlusE164,
    audit,
    error_response,
    read_body,
)

JOIN_TASKS = web.AppKey("join_tasks", OwnedTasks)


class RoomPayload(Payload):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    extension: str | None = Field(None, pattern=r"^[0-9]{2,8}$")
    did: str | None = Field(None, pattern=r"^\+?[0-9]{4,15}$")
    pin: str | None = Field(None, pattern=r"^[0-9]{3,10}$")
    moderator_pin: str | None = Field(None, pattern=r"^[0-9]{3,10}$")
    moderator: str | None = None
    max_members: int = Field(10, ge=2, le=100)
    tones: bool = True


class DialPayload(Payload):
    number: PlusE164


class InvitationPayload(Payload):
    valid_seconds: int = Field(86400, ge=1, le=30 * 86400)


def _room(request: web.Request, *, moderated: bool = False) -> Room:
    """The room the path names (404 if none); with `moderated`, only for its moderator and
    supervisors (403)."""
    room = request.app[ENGINE].rooms.room(request.match_info["name"])
    if room is None:
        raise RoomError("no such room", 404)
    me: AgentRow = request[AGENT]
    if moderated and me.role not in SUPERVISORS and me.login != room.moderator:
        raise RoomError("only the room's moderator and supervisors may", 403)
    return room


async def list_rooms(request: web.Request) -> web.Response:
    rooms = request.app[ENGINE].rooms
    return web.json_response(
        [{**r.as_json(), "members": len(rooms.members(r.name))} for r in rooms.rooms()]
    )


async def create_room(request: web.Request) -> web.Response:
    payload = await read_body(request, RoomPayload)
    if isinstance(payload, web.Response):
        return payload
    me: AgentRow = request[AGENT]
    fields = payload.model_dump()
    fields["moderator"] = fields["moderator"] or me.login
    room = await request.app[ENGINE].rooms.create(Room(**fields), me.id)
    return web.json_response(room.as_json(), status=201)


async def get_room(request: web.Request) -> web.Response:
    room = _room(request)
    members = request.app[ENGINE].rooms.members(room.name)
    return web.json_response({**room.as_json(), "members": [m.as_json() for m in members]})


async def delete_room(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    await audit(request, "room_delete", room.name)
    await request.app[ENGINE].rooms.delete(room.name)
    return web.json_response({"deleted": room.name})


async def dial_into_room(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    payload = await read_body(request, DialPayload)
    if isinstance(payload, web.Response):
        return payload
    await audit(request, "room_dial", f"{room.name} {payload.number}")
    member = await request.app[ENGINE].rooms.dial(room.name, payload.number)
    return web.json_response(member.as_json(), status=201)


async def moderate(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    rooms, member_id = request.app[ENGINE].rooms, request.match_info["member"]
    action = request.match_info["action"]
    if action in ("mute", "unmute", "kick"):
        await audit(request, f"room_{action}", f"{room.name} {member_id}")
    if action in ("mute", "unmute"):
        member = await rooms.mute(room.name, member_id, action == "mute")
    elif action == "kick":
        member = await rooms.kick(room.name, member_id)
    else:
        return error_response(404, f"no member action {action!r}")
    return web.json_response(member.as_json())


async def invite(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    payload = await read_body(request, InvitationPayload)
    if isinstance(payload, web.Response):
        return payload
    engine = request.app[ENGINE]
    await audit(request, "room_invitation", room.name)
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=payload.valid_seconds)
    token = make_token(Invitation(room.name, expires_at), engine.invitation_secret)
    http = engine.config.http
    base = (http.public_url if http and http.public_url else None) or str(request.url.origin())
    return web.json_response(
        {"url": f"{base.rstrip('/')}/join/{token}", "expires_at": expires_at.isoformat()},
        status=201,
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 3em auto">
<h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = _PAGE.format(title=html.escape(title), body=body)
    return web.Response(text=text, content_type="text/html", status=status)


def _invitation(request: web.Request) -> Invitation | web.Response:
    engine = request.app[ENGINE]
    try:
        invitation = read_token(
            request.match_info["token"], engine.invitation_secret, datetime.now(UTC)
        )
    except InvitationError as error:
        expired = "expired" in str(error)
        return _page("Invitation", f"<p>{html.escape(str(error))}.</p>", 410 if expired else 403)
    if engine.rooms.room(invitation.room) is None:
        return _page("Invitation", "<p>This room does not exist any more.</p>", 410)
    return invitation


async def join_page(request: web.Request) -> web.Response:
    invitation = _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    until = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return _page(
        f"Join {invitation.room}",
        f"<p>You are invited to the conference <b>{html.escape(invitation.room)}</b> "
        f"(this link works until {until}).</p>"
        '<form method="post"><label>Your phone number, with the country code<br>'
        '<input name="number" type="tel" required placeholder="+44 20 7946 0000" '
        'autocomplete="tel"></label> <button type="submit">Call me</button></form>',
    )


async def join(request: web.Request) -> web.Response:
    invitation = _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    engine = request.app[ENGINE]
    form = await request.post()
    try:
        number = to_e164(str(form.get("number", "")), engine.config.default_region)
    except BadNumber as error:
        return _page("Join", f"<p>{html.escape(str(error))}. Go back and try again.</p>", 422)
    room = invitation.room
    request.app[JOIN_TASKS].spawn(_call_in(engine, room, number))
    return _page(
        f"Join {room}",
        f"<p>We are calling {html.escape(number)} now: answer, and you are in the room.</p>",
        202,
    )


async def _call_in(engine, room: str, number: str) -> None:
    try:
        await engine.rooms.dial(room, number, via="invitation")
    except RoomError:
        pass  # logged by the room service; the participant may open the link again


async def _close_join_tasks(app: web.Application) -> None:
    await app[JOIN_TASKS].close()


def add_room_routes(app: web.Application) -> None:
    app[JOIN_TASKS] = OwnedTasks()
    app.on_cleanup.append(_close_join_tasks)
    app.router.add_get("/rooms", list_rooms)
    app.router.add_post("/rooms", create_room)
    app.router.add_get("/rooms/{name}", get_room)
    app.router.add_delete("/rooms/{name}", delete_room)
    app.router.add_post("/rooms/{name}/dial", dial_into_room)
    app.router.add_post("/rooms/{name}/members/{member}/{action}", moderate)
    app.router.add_post("/rooms/{name}/invitations", invite)
    app.router.add_get("/join/{token}", join_page)
    app.router.add_post("/join/{token}", join)
