"""Agents' softphone accounts, the pure part: names Asterisk can take, the SIP password and the
credential kept of it, and the PJSIP objects (auth, aor, endpoint) the engine pushes for an
agent, field for field as the `agent-endpoint`, `agent-aor` and `agent-auth` templates of
asterisk-config/engine/pjsip.conf."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from pbx_engine.refusals import Refused
from pbx_engine.storage.models import SoftphoneAccount

# An endpoint's name is its aor's and auth's id, its SIP user name, a key in astdb and a word
# in dial strings (PJSIP/name): letters, digits, `.`, `_`, `-`, starting with a letter or digit.
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The realm a softphone's digest is computed in. Pushed on each auth, so Asterisk's
# [global] default_realm cannot change what the stored credential was made for.
SIP_REALM = "asterisk"
# The transport of asterisk-config/engine/pjsip.conf that softphones register on.
AGENT_TRANSPORT = "transport-udp"
# The dialplan context a softphone's own calls enter (feature codes, the room extension).
AGENT_CONTEXT = "from-agents"


class BadEndpointName(Refused):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"endpoint name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            422,
        )


def check_endpoint_name(name: str) -> str:
    """The name as it is, or BadEndpointName (`;`, `[`, spaces, line breaks, slashes...)."""
    if not _ENDPOINT_NAME.fullmatch(name):
        raise BadEndpointName(name)
    return name


def new_sip_password() -> str:
    """24 characters of [A-Za-z0-9_-]: typed into a softphone once, never stored."""
    return secrets.token_urlsafe(18)


def md5_credential(name: str, password: str, realm: str = SIP_REALM) -> str:
    """What SIP digest authentication checks against (RFC 2617's HA1, Asterisk's `md5_cred`):
    with it the engine can push the account again without keeping the password."""
    return hashlib.md5(f"{name}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


@dataclass(frozen=True)
class PjsipObject:
    kind: str  # endpoint, aor or auth (res_pjsip's sorcery object types)
    id: str
    fields: dict[str, str]


def auth_fields(account: SoftphoneAccount) -> dict[str, str]:
    return {
        "auth_type": "md5",
        "username": account.endpoint,
        "realm": account.realm,
        "md5_cred": account.md5_cred,
    }


def aor_fields() -> dict[str, str]:
    # One registration per agent; the newest wins (a softphone restarted elsewhere). One made
    # through Kamailio is rung back through it (the Path it added).
    return {
        "max_contacts": "1",
        "remove_existing": "yes",
        "qualify_frequency": "0",
        "support_path": "yes",
    }


def endpoint_fields(name: str, rtp_timeout: int) -> dict[str, str]:
    return {
        "transport": AGENT_TRANSPORT,
        "context": AGENT_CONTEXT,
        "disallow": "all",
        "allow": "ulaw",
        "direct_media": "no",
        "rtp_symmetric": "yes",
        "force_rport": "yes",
        "rewrite_contact": "yes",
        "rtp_timeout": str(rtp_timeout),
        "auth": name,
        "aors": name,
    }


def pjsip_objects(account: SoftphoneAccount, rtp_timeout: int) -> list[PjsipObject]:
    """In the order to push them: the endpoint names its auth and aor, so they come first."""
    name = account.endpoint
    return [
        PjsipObject("auth", name, auth_fields(account)),
        PjsipObject("aor", name, aor_fields()),
        PjsipObject("endpoint", name, endpoint_fields(name, rtp_timeout)),
    ]


# ---- the browser phone: the desk's own softphone (WebRTC over a SIP websocket) ----

# The transport of asterisk-config/engine/pjsip.conf browsers register on (through the
# engine's /phone/sip websocket, see pbx_engine.web.phone_api).
BROWSER_TRANSPORT = "transport-ws"
BROWSER_PREFIX = "web-"
GUEST_PREFIX = "guest-"
# Guests' browsers are only ever rung; whatever they dial is refused (dialplans/engine.conf).
GUEST_CONTEXT = "from-guests"


def browser_endpoint_name(agent_id: int) -> str:
    """By the agent's id, not his login: a login may hold what a PJSIP name cannot."""
    return f"{BROWSER_PREFIX}{agent_id}"


def guest_endpoint_name() -> str:
    """A room guest's browser: a name of its own for each join, never guessed."""
    return f"{GUEST_PREFIX}{secrets.token_hex(8)}"


def browser_endpoint_fields(
    name: str,
    rtp_timeout: int,
    dtls_certificate: Path | None = None,
    dtls_private_key: Path | None = None,
) -> dict[str, str]:
    """A softphone's endpoint, but WebRTC: DTLS-SRTP with ICE and RTP/RTCP on one port
    (`webrtc`), and no rewrite of the contact (its address is the websocket's). DTLS with the
    operator's certificate where [webrtc] names one, else with one Asterisk makes."""
    fields = endpoint_fields(name, rtp_timeout)
    del fields["rewrite_contact"], fields["force_rport"]
    fields.update(
        {
            "transport": BROWSER_TRANSPORT,
            "webrtc": "yes",
            # The browser's ICE candidates are its own addresses: no symmetric-RTP guessing.
            "rtp_symmetric": "no",
        }
    )
    if dtls_certificate is None:
        # Made when Asterisk starts; the browser checks the fingerprint the SDP carries, as
        # WebRTC does (no certificate authority involved), so it needs no keeping.
        fields["dtls_auto_generate_cert"] = "yes"
    else:
        fields["dtls_cert_file"] = str(dtls_certificate)
        if dtls_private_key is not None:
            fields["dtls_private_key"] = str(dtls_private_key)
    return fields


def browser_phone_objects(
    name: str,
    password: str,
    rtp_timeout: int,
    *,
    guest: bool = False,
    realm: str = SIP_REALM,
    dtls_certificate: Path | None = None,
    dtls_private_key: Path | None = None,
) -> list[PjsipObject]:
    """The auth, aor and endpoint of an agent's (or a room guest's) browser phone, with a
    password of its own."""
    account = SoftphoneAccount(name, md5_credential(name, password, realm), realm)
    endpoint = browser_endpoint_fields(name, rtp_timeout, dtls_certificate, dtls_private_key)
    if guest:
        endpoint["context"] = GUEST_CONTEXT
    return [
        PjsipObject("auth", name, auth_fields(account)),
        PjsipObject("aor", name, aor_fields()),
        PjsipObject("endpoint", name, endpoint),
    ]
