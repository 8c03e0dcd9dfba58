"""The API of conference rooms, and the invitation pages a participant opens in a browser.

    GET    /rooms                       every room, with how many are in it
    POST   /rooms                       make a room (the maker is its moderator by default;
                                        only supervisors give it a DID, one of `room_dids`,
                                        or an extension)
    GET    /rooms/{name}                the room and its members
    DELETE /rooms/{name}                a room made through the API (moderator, supervisors)
    POST   /rooms/{name}/dial           ring a number into the room (moderator, supervisors)
    POST   /rooms/{name}/members/{id}/mute|unmute|kick   (moderator, supervisors)
    POST   /rooms/{name}/invitations    a link valid `valid_seconds` for `max_uses` calls
    GET    /rooms/{name}/invitations    the room's links, with their uses (moderator, sup.)
    DELETE /rooms/{name}/invitations/{id}  revoke a link (moderator, supervisors)
    GET    /rooms/{name}/actions        what was done to the room, by whom (supervisors)
    GET    /join/{token}                the invitation page: enter the number to be called at,
                                        or join from the browser
    POST   /join/{token}                the engine calls that number into the room
    POST   /join/{token}/browser        a browser phone for this page (it can only be rung)
    GET    /join/{token}/sip?guest=E    its SIP websocket, carried to the room's PBX
    POST   /join/{token}/browser/ring {endpoint}   the engine rings it into the room

The `/join` pages need no account: the signed link is the permission while its row says it is
live (uses left, not revoked, its room and its maker still there). Every call a link causes
passes the outbound policy (the number, the link's and the address's hourly caps, a seat in
the room reserved before ringing) and is on record; every room action is on record too. A
guest's browser is a call like any other there: it takes a seat and a use of the link, and
counts against the caps; only the number rules do not apply (no phone network is reached).
"""

from __future__ import annotations

import html

from aiohttp import web
from pydantic import Field

from pbx_engine.ari.dialstrings import BROWSER_TARGET
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.conferences.invitation_service import InvitationRefused
from pbx_engine.conferences.invitations import Invitation
from pbx_engine.conferences.room_service import RoomError
from pbx_engine.conferences.rooms import Room
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.outbound.gate import DialAsk, OutboundRefused
from pbx_engine.outbound.policy import Purpose
from pbx_engine.storage.models import AgentRow
from pbx_engine.tasks import OwnedTasks
from pbx_engine.web.common import (
    AGENT,
    CONFIG,
    INVITATIONS,
    ROOMS,
    SUPERVISORS,
    Payload,
    PlusE164,
    audit,
    error_response,
    html_page,
    read_body,
    require_role,
)
from pbx_engine.web.edge import client
from pbx_engine.web.payloads import GuestPayload
from pbx_engine.web.phone_api import BROWSER_PHONES, carry_sip

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
    valid_seconds: int = Field(86400, ge=1, le=30 * 86400)  # and at most [outbound]'s days
    max_uses: int | None = Field(None, ge=1)  # calls it may cause; at most [outbound]'s


async def room_audit(request: web.Request, room: str, action: str, target: str | None) -> None:
    """Every room action, by anyone (an agent moderating his room too), on record."""
    await request.app[INVITATIONS].record_action(
        room, action, target, request.get(AGENT), client(request).address
    )


def _room(request: web.Request, *, moderated: bool = False) -> Room:
    """The room the path names (404 if none); with `moderated`, only for its moderator and
    supervisors (403)."""
    room = request.app[ROOMS].room(request.match_info["name"])
    if room is None:
        raise RoomError("no such room", 404)
    me: AgentRow = request[AGENT]
    if moderated and me.role not in SUPERVISORS and me.login != room.moderator:
        raise RoomError("only the room's moderator and supervisors may", 403)
    return room


async def list_rooms(request: web.Request) -> web.Response:
    rooms = request.app[ROOMS]
    return web.json_response(
        [{**r.as_json(), "members": len(rooms.members(r.name))} for r in rooms.rooms()]
    )


async def create_room(request: web.Request) -> web.Response:
    payload = await read_body(request, RoomPayload)
    if isinstance(payload, web.Response):
        return payload
    me: AgentRow = request[AGENT]
    if (payload.did or payload.extension) and me.role not in SUPERVISORS:
        # A DID takes calls from outside (the centre's own number, say): not an agent's call.
        return error_response(403, "only supervisors give a room a DID or an extension")
    fields = payload.model_dump()
    fields["moderator"] = fields["moderator"] or me.login
    room = await request.app[ROOMS].create(Room(**fields), me.id)
    await room_audit(request, room.name, "create", room.did or room.extension)
    return web.json_response(room.as_json(), status=201)


async def get_room(request: web.Request) -> web.Response:
    room = _room(request)
    members = request.app[ROOMS].members(room.name)
    return web.json_response({**room.as_json(), "members": [m.as_json() for m in members]})


async def delete_room(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    await audit(request, "room_delete", room.name)
    await request.app[ROOMS].delete(room.name)
    await room_audit(request, room.name, "delete", None)
    return web.json_response({"deleted": room.name})


async def dial_into_room(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    payload = await read_body(request, DialPayload)
    if isinstance(payload, web.Response):
        return payload
    await audit(request, "room_dial", f"{room.name} {payload.number}")
    await room_audit(request, room.name, "dial", payload.number)
    me: AgentRow = request[AGENT]
    ask = DialAsk(Purpose.ROOM_DIAL, payload.number, agent_id=me.id, room=room.name)
    member = await request.app[ROOMS].dial(room.name, payload.number, ask=ask)
    return web.json_response(member.as_json(), status=201)


async def moderate(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    rooms, member_id = request.app[ROOMS], request.match_info["member"]
    action = request.match_info["action"]
    if action in ("mute", "unmute", "kick"):
        await audit(request, f"room_{action}", f"{room.name} {member_id}")
        await room_audit(request, room.name, action, member_id)
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
    link = await request.app[INVITATIONS].mint(  # beyond [outbound]'s limits: 422
        room.name, request[AGENT], payload.valid_seconds, payload.max_uses
    )
    await audit(request, "room_invitation", room.name)
    await room_audit(request, room.name, "invitation_minted", link.id)
    http = request.app[CONFIG].http
    base = (http.public_url if http and http.public_url else None) or str(request.url.origin())
    return web.json_response(
        {
            "id": link.id,
            "url": f"{base.rstrip('/')}/join/{link.token}",
            "expires_at": link.expires_at.isoformat(),
            "max_uses": link.max_uses,
        },
        status=201,
    )


async def list_invitations(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    rows = await request.app[INVITATIONS].of_room(room.name)
    return web.json_response([r.as_json() for r in rows])


async def revoke_invitation(request: web.Request) -> web.Response:
    room = _room(request, moderated=True)
    link_id = request.match_info["id"]
    await request.app[INVITATIONS].revoke(link_id, room.name)  # 404: no live link of the room
    await audit(request, "room_invitation_revoke", f"{room.name} {link_id}")
    await room_audit(request, room.name, "invitation_revoked", link_id)
    return web.json_response({"revoked": link_id})


async def room_actions(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    actions = await request.app[INVITATIONS].actions(request.match_info["name"])
    return web.json_response([a.as_json() for a in actions])


async def _invitation(request: web.Request) -> Invitation | web.Response:
    """The link's invitation while it may cause a call, else the page that says why not."""
    try:
        return await request.app[INVITATIONS].live(request.match_info["token"])
    except InvitationRefused as refusal:
        return html_page("Invitation", f"<p>{html.escape(str(refusal))}.</p>", refusal.status)


async def join_page(request: web.Request) -> web.Response:
    invitation = await _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    until = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return html_page(
        f"Join {invitation.room}",
        f"<p>You are invited to the conference <b>{html.escape(invitation.room)}</b> "
        f"(this link works until {until}).</p>"
        '<p><button id="join-browser" class="primary">Join from this browser</button> '
        '<button id="leave" disabled>Leave</button> '
        '<span id="browser-state" data-state="idle"></span></p>'
        '<audio id="room-audio" autoplay></audio>'
        "<p>Or we call your phone:</p>"
        '<form method="post"><label>Your phone number, with the country code<br>'
        '<input name="number" type="tel" required placeholder="+44 20 7946 0000" '
        'autocomplete="tel"></label> <button type="submit">Call me</button></form>'
        '<script src="/static/vendor/jssip.min.js"></script>'
        '<script type="module" src="/static/join.js"></script>',
    )


async def join(request: web.Request) -> web.Response:
    invitation = await _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    form = await request.post()
    try:
        number = to_e164(str(form.get("number", "")), request.app[CONFIG].default_region)
    except BadNumber as error:
        return html_page("Join", f"<p>{html.escape(str(error))}. Go back and try again.</p>", 422)
    room = invitation.room
    try:
        ringing = await request.app[INVITATIONS].call_in(
            invitation, number, client(request).address or "unknown"
        )
    except (RoomError, OutboundRefused) as refusal:
        await room_audit(request, room, "invitation_refused", invitation.id)
        return html_page("Join", f"<p>{html.escape(str(refusal))}.</p>", refusal.status)
    await room_audit(request, room, "invitation_used", invitation.id)
    request.app[JOIN_TASKS].spawn(_call_in(ringing))
    return html_page(
        f"Join {room}",
        f"<p>We are calling {html.escape(number)} now: answer, and you are in the room.</p>",
        202,
    )


async def join_from_browser(request: web.Request) -> web.Response:
    invitation = await _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    assert invitation.id is not None  # _invitation refuses links without a row
    try:
        issued = await request.app[BROWSER_PHONES].issue_guest(invitation.id)
    except (AriError, AriUnavailable) as error:
        return error_response(503, f"the PBX did not take this browser: {error}")
    websocket = f"/join/{request.match_info['token']}/sip?guest={issued.endpoint}"
    return web.json_response({**issued.as_json(), "websocket": websocket})


async def guest_sip(request: web.Request) -> web.StreamResponse:
    invitation = await _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    phones, guest = request.app[BROWSER_PHONES], request.query.get("guest", "")
    if invitation.id is None or phones.invitation_of(guest) != invitation.id:
        return error_response(403, "not a browser this link made")
    # A guest registers on the room's own node, where he will be rung.
    node = request.app[ROOMS].node_of(invitation.room)
    try:
        return await carry_sip(request, phones.websocket_url(node))
    finally:
        await phones.withdraw_guest(guest)


async def ring_browser(request: web.Request) -> web.Response:
    invitation = await _invitation(request)
    if isinstance(invitation, web.Response):
        return invitation
    payload = await read_body(request, GuestPayload)
    if isinstance(payload, web.Response):
        return payload
    if invitation.id is None or (
        request.app[BROWSER_PHONES].invitation_of(payload.endpoint) != invitation.id
    ):
        return error_response(403, "not a browser this link made")
    room = invitation.room
    try:
        ringing = await request.app[INVITATIONS].call_in(
            invitation, BROWSER_TARGET + payload.endpoint, client(request).address or "unknown"
        )
    except (RoomError, OutboundRefused) as refusal:
        await room_audit(request, room, "invitation_refused", invitation.id)
        return error_response(refusal.status, str(refusal))
    await room_audit(request, room, "invitation_used", invitation.id)
    request.app[JOIN_TASKS].spawn(_call_in(ringing))
    return web.json_response({"ringing": payload.endpoint}, status=202)


async def _call_in(ringing) -> None:
    try:
        await ringing
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
    app.router.add_get("/rooms/{name}/invitations", list_invitations)
    app.router.add_delete("/rooms/{name}/invitations/{id}", revoke_invitation)
    app.router.add_get("/rooms/{name}/actions", room_actions)
    app.router.add_get("/join/{token}", join_page)
    app.router.add_post("/join/{token}", join)
    app.router.add_post("/join/{token}/browser", join_from_browser)
    app.router.add_get("/join/{token}/sip", guest_sip)
    app.router.add_post("/join/{token}/browser/ring", ring_browser)
