"""The engine's configuration file (TOML), parsed into one frozen pydantic model.

Each component is handed only its own section. Secrets may come from the environment instead of
the file: `PBX_ENGINE_ARI_PASSWORD`, `PBX_ENGINE_AMI_SECRET`, `PBX_ENGINE_DATABASE_PASSWORD`,
`PBX_ENGINE_HTTP_SECRET` (and `PBX_ENGINE_DATABASE_DSN` for the whole database address).
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file, key and problem."""


class _Section(BaseModel):
    # A typo in a key must be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


Port = Annotated[int, Field(ge=1, le=65535)]

# Secrets copied from examples and tutorials: an attacker tries these first. Compared without
# case and without the characters people put between the words.
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme", "changemetoo", "changemethree", "changeit", "changethis", "change",
        "secret", "mysecret", "password", "passw0rd", "mypassword", "pass", "admin", "root",
        "default", "example", "test", "demo", "todo", "fixme", "xxx", "xxxx", "", "123456",
        "1234", "12345", "12345678", "123456789", "qwerty", "letmein", "asterisk", "postgres",
        "engine", "pbxengine", "pbx", "amp111", "yoursecret", "yourpassword", "replaceme",
    }
)  # fmt: skip


def _not_a_placeholder(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text.strip():
        raise ValueError("empty: leave the setting out instead, or give a secret of your own")
    if "".join(c for c in text.lower() if c.isalnum()) in PLACEHOLDER_SECRETS or set(text) <= {
        ".",
        "*",
        "x",
        "X",
    }:
        raise ValueError("a well-known placeholder: set a secret of your own")
    return value


def _at_least_32_bytes(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value().encode()) < 32:
        raise ValueError("too short: at least 32 bytes (e.g. `openssl rand -base64 32`)")
    return value


# A secret given in the file or the environment: never an example's placeholder, never empty.
Secret = Annotated[SecretStr, AfterValidator(_not_a_placeholder)]
SigningSecret = Annotated[Secret, AfterValidator(_at_least_32_bytes)]


# What a value in Asterisk's config files cannot hold: `;` starts a comment (the value would be
# cut there), a bracket a section, a line break ends the value.
NOT_IN_ASTERISK_FILES = ";[]\n\r"
NOT_IN_ASTERISK_FILES_SAID = "; [ ] or a line break, which Asterisk's files cannot"


def fits_asterisk_files(value: str) -> bool:
    return not any(c in value for c in NOT_IN_ASTERISK_FILES)


def _as_the_nodes_see_it(path: Path) -> Path:
    # Asterisk would read a relative path from its own working folder, not the config's.
    if not path.is_absolute():
        raise ValueError(f"{path}: give the full path as the Asterisk nodes see it")
    if not fits_asterisk_files(str(path)):
        raise ValueError(f"{path}: holds {NOT_IN_ASTERISK_FILES_SAID}")
    return path


# A file on the Asterisk nodes (a certificate, a key), named for them to read.
PathOnTheNodes = Annotated[Path, AfterValidator(_as_the_nodes_see_it)]


NodeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
# host:port (an IPv6 host in brackets): where the other nodes send SIP for a node link.
SipAddress = Annotated[
    str, Field(pattern=r"^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$")
]
_SIP_ADDRESS_HELP = (
    "host:port of this node's SIP (its transport-udp) as the other nodes reach it: a caller "
    "on another node is linked into this node's bridges (an agent here takes him); none: "
    "calls into its bridges come from this node only"
)


class MediaNode(_Section):
    """A further Asterisk media server the engine drives, with the same ARI user and app."""

    name: NodeName
    url: AnyHttpUrl = Field(description="its HTTP server, e.g. http://10.0.0.12:8088")
    max_channels: int | None = Field(
        None, ge=1, description="channels it may carry at once; none: no cap of its own"
    )
    sip_address: SipAddress | None = Field(None, description=_SIP_ADDRESS_HELP)


class AriConfig(_Section):
    url: AnyHttpUrl = Field(
        description="Base URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088"
    )
    node: NodeName = Field(
        "asterisk", description="the name of the Asterisk node `url` reaches (logs, call records)"
    )
    max_channels: int | None = Field(
        None, ge=1, description="channels that node may carry at once; none: no cap of its own"
    )
    sip_address: SipAddress | None = Field(None, description=_SIP_ADDRESS_HELP)
    nodes: tuple[MediaNode, ...] = Field(
        (),
        description="further Asterisk media servers beside `url`'s ([[ari.nodes]]): each call "
        "and its agent's bridge stay on one node; a node that is down is left out",
    )
    username: str
    password: Secret = SecretStr("")
    app: str = Field("pbx-engine", pattern=r"^[A-Za-z0-9_.-]+$")
    request_timeout: float = Field(10.0, gt=0)
    heartbeat: float = Field(
        5.0, gt=0, description="seconds of silence on the events websocket before a ping"
    )
    dead_after: float = Field(
        10.0,
        gt=0,
        description="seconds of silence (the ping unanswered) before the events websocket is "
        "declared dead, closed and reopened: a half-open connection ends within this",
    )
    reconnect_initial: float = Field(0.5, gt=0)
    reconnect_max: float = Field(10.0, gt=0)
    ca_file: Path | None = Field(
        None,
        description="the CA (PEM) that signed the nodes' ARI certificates, for https urls, if "
        "not a public one",
    )

    @model_validator(mode="after")
    def _ping_before_dead(self) -> AriConfig:
        if self.heartbeat >= self.dead_after:
            raise ValueError("heartbeat must be shorter than dead_after (the ping needs time)")
        names = [self.node, *(node.name for node in self.nodes)]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must differ ([ari] node and [[ari.nodes]]): {names}")
        urls = [str(self.url), *(str(node.url) for node in self.nodes)]
        if len(set(urls)) != len(urls):
            raise ValueError("two nodes with one url: each node is its own Asterisk")
        return self

    def sip_addresses(self) -> dict[str, str]:
        """Each node's address for node links, of the nodes that have one."""
        named = [(self.node, self.sip_address), *((n.name, n.sip_address) for n in self.nodes)]
        return {name: address for name, address in named if address}


class AmiConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 5038
    username: str
    secret: Secret = SecretStr("")


class AgiConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 4573


class DatabaseConfig(_Section):
    dsn: str | None = Field(None, description="postgresql://user@host:port/db; overrides the parts")
    host: str = "127.0.0.1"
    port: Port = 5432
    user: str = "engine"
    password: Secret = SecretStr("")
    name: str = "pbx_engine"
    min_connections: int = Field(1, ge=0)
    max_connections: int = Field(10, ge=1)
    command_timeout: float = Field(
        10.0,
        gt=0,
        description="seconds the running engine lets a query take before it fails (owed, "
        "like a write to a database that is gone): a server that hangs without breaking the "
        "connection must not hold a call's writes forever. Migrations and imports wait",
    )
    allow_superuser: bool = Field(
        False,
        description="true: no warning at start when the engine's role is a PostgreSQL "
        "superuser (a throwaway test cluster); it should own its database and no more",
    )

    @field_validator("dsn")
    @classmethod
    def _dsn_password_is_no_placeholder(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        password = urlsplit(value).password if value else None
        if password is not None:
            _not_a_placeholder(SecretStr(password))
        return value

    def connect_kwargs(self) -> dict[str, object]:
        """Arguments for asyncpg.connect / create_pool."""
        if self.dsn:
            kwargs: dict[str, object] = {"dsn": self.dsn}
            if self.password.get_secret_value():
                kwargs["password"] = self.password.get_secret_value()
            return kwargs
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value() or None,
            "database": self.name,
        }


class DialerConfig(_Section):
    engine_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=100,
        description="this engine's name among engines sharing a database (the host's name by "
        "default): the holder of a campaign's lease dials it. Two engines must not share one; "
        "an engine restarted under its name takes its campaigns back at once",
    )
    trunk: str = Field(
        "pstn",
        description="PJSIP endpoint of the carrier trunk; calls go to PJSIP/{number}@{trunk}",
    )
    node_lost_calls_after: float = Field(
        300.0,
        gt=0,
        description="seconds one of several Asterisk nodes may go unheard before its calls are "
        "settled on record as lost, so that their cases can be dialled again (a node that only "
        "lost its link to the engine may still carry them)",
    )
    caller_id: str = Field("", description="number presented when the campaign names none")
    ring_timeout: float = Field(30.0, gt=0, le=300)
    amd_context: str = Field(
        "engine-amd",
        description="dialplan context that runs AMD() and returns to Stasis, when amd_detector "
        "is empty",
    )
    amd_detector: str | None = Field(
        "engine",
        description="the answering-machine detector of campaigns that name none (see "
        "pbx_engine.amd.detectors: app_amd, app_amd-tuned, engine); empty: AMD() in the "
        "dialplan context amd_context",
    )
    amd_timeout: float = Field(8.0, gt=0, description="longest wait for the AMD verdict, seconds")
    media_host: str = Field(
        "127.0.0.1",
        description="address of this host that Asterisk sends call audio to, for the engine "
        "detector (a UDP port is opened on it per call while it listens)",
    )
    media_peer: str | None = Field(
        None,
        description="the only address call audio is accepted from (Asterisk's); unset: the "
        "host of the ARI url. Datagrams from elsewhere are dropped and counted",
    )

    @field_validator("amd_detector")
    @classmethod
    def _known_detector(cls, value: str | None) -> str | None:
        from pbx_engine.amd.detectors import DETECTORS

        if not value:
            return None
        if value not in DETECTORS:
            raise ValueError(f"unknown detector {value!r} (known: {', '.join(DETECTORS)})")
        return value

    abandon_wait: float = Field(
        2.0, ge=0, le=2.0, description="how long a live debtor may wait for a free agent"
    )
    abandon_message: str = Field(
        "sound:vm-goodbye",
        description="media played to a debtor no agent could take: who called, a number to call",
    )


class AgentsConfig(_Section):
    wrap_up_seconds: float = Field(15.0, ge=0, description="after a call, before ready again")
    answer_timeout: float = Field(20.0, gt=0, description="ring the softphone this long")
    ring_per_call: bool = Field(
        False,
        description="ring the agent's softphone for each call instead of keeping one call "
        "up for the whole shift (the debtor waits while it rings)",
    )


class InboundConfig(_Section):
    owner_wait: float = Field(
        10.0, ge=0, description="wait this long for the case's owner finishing his wrap-up"
    )
    max_queue_wait: float = Field(
        60.0, gt=0, description="seconds in the queue before the caller is offered a callback"
    )
    announce_every: float = Field(30.0, gt=0, description="queue position announcements")
    offer_callback: bool = Field(True, description="press 1 for a callback when the wait ends")
    menu_prompts: Path | None = Field(
        None,
        description="folder of the debtor menu's prompts (`pbx-engine prompts DIR`); "
        "unset: identified callers go straight to the routing, without a menu",
    )
    language: str = Field("en", description="the menu's language: en, pl, es, de")
    recording: Literal["none", "mixed", "separate"] = Field(
        "none",
        description="for callers whose case belongs to no running campaign (the others are "
        "recorded as their campaign says)",
    )
    recording_retention_days: int = Field(365, ge=1)
    pay_link_template: str | None = Field(
        None,
        description="a message template (with {{ pay_link }}) texted to the case's mobile when a "
        "caller presses 5 in the menu; unset: the menu offers no 5 (it needs [sms])",
    )


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: readable on a terminal, JSON otherwise"
    )
    mask_numbers: bool = Field(
        True, description="phone numbers in log lines show only their last 4 digits"
    )


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    public_url: str | None = Field(
        None,
        description="the address invitation links start with, as participants reach the "
        "engine (e.g. https://pbx.example.com); else http://host:port",
    )
    secret: SigningSecret = Field(
        SecretStr(""),
        description="signs invitation links, at least 32 bytes; left out: a random one per "
        "start (links made before a restart stop working)",
    )


class MetricsConfig(_Section):
    """The metrics site: Prometheus' `/metrics` with `/health` and `/ready`, on a port apart
    from the API. It asks for no credentials: keep it on loopback or a private network."""

    host: str = "127.0.0.1"
    port: Port = 9464


class WebConfig(_Section):
    """How the HTTP tier faces browsers and API clients: sign-in limits, sessions, tokens, and
    the reverse proxy in front of it."""

    mode: Literal["production", "development"] = Field(
        "production",
        description="production: the session cookie is always Secure (the engine is reached "
        "over TLS, through a reverse proxy); development: Secure only on HTTPS requests",
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="addresses (or networks) of the reverse proxies whose X-Forwarded-For, "
        "X-Forwarded-Proto and Forwarded headers are believed; from anyone else they are ignored",
    )
    session_idle_minutes: float = Field(
        30.0, gt=0, description="a browser session with no request and no open page this long ends"
    )
    token_lifetime_days: float = Field(
        90.0, gt=0, le=3650, description="API tokens expire this long after they are issued"
    )
    signin_window_seconds: float = Field(300.0, gt=0, description="failed sign-ins count this long")
    signin_per_login_and_address: int = Field(
        5, ge=1, description="failures of one address at one login"
    )
    signin_per_address: int = Field(30, ge=1, description="failures of one address at any login")
    signin_per_login: int = Field(
        50,
        ge=1,
        description="failures at one login from every address; past it, only addresses "
        "that have not failed at it may try",
    )
    signin_table_size: int = Field(10_000, ge=100, description="entries kept per count, at most")
    signin_concurrent_hashes: int = Field(4, ge=1, description="password checks run at once")
    signin_queued_hashes: int = Field(
        16, ge=0, description="password checks waiting; past them a sign-in gets 503 at once"
    )


class RoomConfig(_Section):
    """A conference room that always exists (rooms can also be made through the API)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    extension: str | None = Field(
        None, pattern=r"^[0-9]{2,8}$", description="dialled from agents' softphones"
    )
    did: str | None = Field(
        None, pattern=r"^\+?[0-9]{4,15}$", description="a number callers dial from outside"
    )
    pin: str | None = Field(None, pattern=r"^[0-9]{3,10}$")
    moderator_pin: str | None = Field(None, pattern=r"^[0-9]{3,10}$")
    moderator: str | None = Field(None, description="an agent's login: may mute and kick")
    max_members: int = Field(10, ge=2, le=100)
    tones: bool = Field(True, description="a tone when someone joins or leaves")


_CAPS = (
    "per_agent_per_hour",
    "per_link_per_hour",
    "per_address_per_hour",
)


class OutboundPurposeConfig(_Section):
    """What one purpose may dial, where it differs from the `[outbound]` defaults."""

    countries: list[str] | None = Field(None, description="ISO 3166 codes; replaces the default")
    kinds: list[str] | None = Field(None, description="number kinds; replaces the default")
    per_agent_per_hour: int | None = Field(None, ge=0)
    per_link_per_hour: int | None = Field(None, ge=0)
    per_address_per_hour: int | None = Field(None, ge=0)

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_regions(value)

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_kinds(value)


class OutboundConfig(_Section):
    """The outbound policy every external dial passes (see pbx_engine.outbound). Safe by
    default: only the centre's own country, only ordinary and free numbers, and hourly caps
    on what an agent or an invitation link can make the PBX dial."""

    countries: list[str] = Field(
        default_factory=list,
        description="ISO 3166 codes the engine may call; empty: default_region only",
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["fixed_line", "mobile", "fixed_line_or_mobile", "toll_free"],
        description="number kinds the engine may call (premium_rate, shared_cost, satellite, "
        "international_network, uan, voip, personal_number, pager, voicemail and unknown are "
        "refused unless named here)",
    )
    per_agent_per_hour: int = Field(
        30, ge=0, description="outside calls one agent may start an hour (parties, room dials)"
    )
    per_link_per_hour: int = Field(
        5, ge=0, description="calls one invitation link may cause an hour"
    )
    per_address_per_hour: int = Field(
        10, ge=0, description="invitation calls asked from one client address an hour"
    )
    invitation_max_uses: int = Field(
        20, ge=1, description="the most calls one invitation link may ever cause"
    )
    invitation_default_uses: int = Field(3, ge=1, description="uses of a link minted without")
    invitation_max_days: float = Field(7.0, gt=0, le=30, description="longest link lifetime")
    purposes: dict[
        Literal["campaign", "test_call", "party", "room_dial", "invitation", "supervisor"],
        OutboundPurposeConfig,
    ] = Field(
        default_factory=dict,
        description="per purpose: countries, kinds and caps that differ from the above",
    )

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        return _known_regions(value)

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        return _known_kinds(value)

    def rules(self, purpose: str, default_region: str):
        """The pure policy's rules for `purpose` (an outbound.Purpose value)."""
        from pbx_engine.outbound.policy import NumberKind, PurposeRules

        own = self.purposes.get(purpose) or OutboundPurposeConfig()
        countries = own.countries if own.countries is not None else self.countries
        kinds = own.kinds if own.kinds is not None else self.kinds
        caps = {
            cap: getattr(own, cap) if getattr(own, cap) is not None else getattr(self, cap)
            for cap in _CAPS
        }
        return PurposeRules(
            countries=frozenset(countries or [default_region]),
            kinds=frozenset(NumberKind(kind) for kind in kinds),
            **caps,
        )


def _known_regions(values: list[str]) -> list[str]:
    import phonenumbers

    upper = [v.upper() for v in values]
    unknown = [v for v in upper if v not in phonenumbers.SUPPORTED_REGIONS and v != "001"]
    if unknown:
        raise ValueError(f"unknown regions {', '.join(unknown)} (ISO 3166 codes: US, GB, PL)")
    return upper


def _known_kinds(values: list[str]) -> list[str]:
    from pbx_engine.outbound.policy import NumberKind

    known = {kind.value for kind in NumberKind}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown number kinds {', '.join(unknown)} (known: {', '.join(known)})")
    return values


class AsteriskConfig(_Section):
    """What only Asterisk's own configuration needs (`pbx-engine asterisk render`); the engine
    itself never reads it. Ports and credentials come from [ari], [ami] and [agi]."""

    run_dir: Path = Field(
        Path("/var/lib/pbx-asterisk"),
        description="Asterisk's runtime folder: etc/ (the rendered config), spool, log, run, lib",
    )
    modules_dir: Path = Path("/usr/lib/asterisk/modules")
    data_dir: Path = Field(Path("/usr/share/asterisk"), description="Asterisk's stock sounds")
    sip_host: str = Field("0.0.0.0", description="address the SIP transport binds")
    sip_port: Port = 5060
    trunk_host: str | None = Field(None, description="the carrier's SIP address (required)")
    trunk_port: Port = 5060
    rtp_start: Port = 10000
    rtp_end: Port = 20000
    agent_rtp_timeout: int = Field(
        15,
        ge=0,
        description="seconds without audio from an agent's softphone before Asterisk hangs "
        "it up (a phone gone without a BYE: pulled cable, crashed app); 0 never",
    )
    agents_file: Path | None = Field(
        None, description="pjsip.conf sections for agents' softphones, appended as they are"
    )
    tls_certificate: PathOnTheNodes | None = Field(
        None,
        description="the node's certificate for ARI over TLS (a node whose [ari] url is "
        "https), PEM, as a path on that node (the file may hold the key too)",
    )
    tls_private_key: PathOnTheNodes | None = Field(
        None, description="the certificate's private key, when it is in a file of its own"
    )


class SmtpConfig(_Section):
    """The mail relay e-mail messages go out through."""

    host: str
    port: Port = 587
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="starttls (port 587), tls (implicit, port 465), or none (a relay on "
        "this host or a private network only)",
    )
    username: str | None = None
    password: Secret | None = Field(None, description="or PBX_ENGINE_SMTP_PASSWORD")
    sender: str = Field(
        ..., description='the From header, e.g. "Acme Collections <accounts@acme.example>"'
    )
    reply_to: str | None = Field(
        None, description="where debtors' replies go (the mailbox STOP replies are read from)"
    )
    ca_file: Path | None = Field(
        None, description="the CA that signed the relay's certificate, if not a public one"
    )
    timeout: float = Field(30.0, gt=0, description="seconds for the whole exchange")


class ImapConfig(_Section):
    """The centre's mailbox debtors' e-mail replies arrive in (the address [smtp] reply_to
    names), read over IMAP with implicit TLS: each unseen message is kept as a reply, its
    opt-out word applied, and then marked seen."""

    host: str
    port: Port = 993
    username: str = Field(min_length=1)
    password: Secret = Field(..., description="or PBX_ENGINE_IMAP_PASSWORD")
    folder: str = Field("INBOX", min_length=1, description="the folder replies arrive in")
    ca_file: Path | None = Field(
        None, description="the CA that signed the server's certificate, if not a public one"
    )
    poll_seconds: float = Field(30.0, ge=1, description="how often the mailbox is read")
    timeout: float = Field(30.0, gt=0, description="seconds for each exchange with the server")


class LookupConfig(_Section):
    """A number look-up provider asked before a number is dialled or texted (once per
    `max_age_days`): a number it says is not valid is never dialled or texted again, and a
    landline gets no SMS. Twilio's Lookup API (v2, Line Type Intelligence) is the one adapter."""

    provider: Literal["twilio"] = "twilio"
    api_url: AnyHttpUrl = Field(
        "https://lookups.twilio.com", description="the provider's API (Twilio's by default)"
    )
    username: str = Field(min_length=1, description="Twilio: an API key SID (or the account SID)")
    password: Secret = Field(..., description="its secret, or PBX_ENGINE_LOOKUP_PASSWORD")
    max_age_days: float = Field(90, gt=0, description="a look-up is asked again after this")
    timeout: float = Field(5.0, gt=0, description="seconds for one look-up")


class SmsConfig(_Section):
    """The SMS gateway text messages go out through: Kannel, which holds the SMPP binds to the
    carriers or aggregators, sends each message and reports its delivery and the debtors'
    replies back to the engine over HTTP."""

    sendsms_url: AnyHttpUrl = Field(
        ..., description="Kannel's sendsms address, e.g. http://127.0.0.1:13013/cgi-bin/sendsms"
    )
    username: str = Field(..., min_length=1, description="the gateway's sendsms-user")
    password: Secret = Field(..., description="its password, or PBX_ENGINE_SMS_PASSWORD")
    sender: str = Field(
        ...,
        pattern=r"^(\+[1-9][0-9]{6,14}|[A-Za-z0-9 ]{1,11})$",
        description="the number (+E.164) replies come back to, or an alphanumeric sender ID "
        "(11 characters at most; debtors cannot reply STOP to one)",
    )
    callback_url: AnyHttpUrl = Field(
        ...,
        description="the engine's HTTP address as the gateway reaches it: delivery reports go "
        "to <callback_url>/sms/receipt/..., replies to <callback_url>/sms/inbound",
    )
    inbound_token: Secret = Field(
        ...,
        description="what the gateway's reply URL carries as ?token= (the sms-service "
        "get-url), or PBX_ENGINE_SMS_INBOUND_TOKEN",
    )
    timeout: float = Field(10.0, gt=0, description="seconds for the gateway to accept a message")


class WebrtcConfig(_Section):
    """How browsers (the desk's phone, room guests) reach Asterisk's media: the STUN and TURN
    servers their ICE uses. On a LAN with no NAT between browsers and Asterisk none is needed.
    TURN credentials are coturn's time-limited ones (its `use-auth-secret`): made for each
    phone from the shared secret, never typed or stored."""

    stun_urls: list[str] = Field(
        default_factory=list, description='e.g. ["stun:turn.example.com:3478"]'
    )
    turn_urls: list[str] = Field(
        default_factory=list,
        description='e.g. ["turn:turn.example.com:3478?transport=udp", '
        '"turns:turn.example.com:5349?transport=tcp"]',
    )
    turn_secret: Secret | None = Field(
        None, description="coturn's static-auth-secret, or PBX_ENGINE_TURN_SECRET"
    )
    turn_credential_hours: float = Field(
        12.0, gt=0, le=48, description="how long a phone's TURN credential lasts (a shift)"
    )
    relay_only: bool = Field(
        False,
        description="browsers send media only through TURN (never their own addresses): for "
        "networks that allow nothing else, and to keep agents' addresses from Asterisk",
    )
    dtls_certificate: PathOnTheNodes | None = Field(
        None,
        description="Asterisk's DTLS certificate for browsers, PEM, as a path on the Asterisk "
        "nodes (readable by their `asterisk` user; the file may hold the key too). None: "
        "Asterisk makes one at each start, which browsers take as well: WebRTC checks the "
        "fingerprint the signalling carries, not a certificate authority",
    )
    dtls_private_key: PathOnTheNodes | None = Field(
        None, description="the certificate's private key, when it is in a file of its own"
    )

    @field_validator("stun_urls", "turn_urls")
    @classmethod
    def _ice_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.fullmatch(r"(stuns?|turns?):[^\s;]+", url):
                raise ValueError(f"{url!r}: not a stun:, stuns:, turn: or turns: address")
        return urls

    @model_validator(mode="after")
    def _turn_needs_secret(self) -> WebrtcConfig:
        if self.turn_urls and self.turn_secret is None:
            raise ValueError("turn_urls need turn_secret (coturn's static-auth-secret)")
        if self.relay_only and not self.turn_urls:
            raise ValueError("relay_only needs turn_urls: media would have no way through")
        if self.dtls_private_key is not None and self.dtls_certificate is None:
            raise ValueError("dtls_private_key needs dtls_certificate (the key's certificate)")
        return self


class WidgetConfig(_Section):
    """The widget creditors put on their websites (`/widget/`, README "Website widget")."""

    sites: list[str] = Field(
        default_factory=list,
        description="the creditors' sites that may show it in a frame, e.g. "
        '["https://www.acme-bank.example"]; none: only as a page of its own',
    )
    callbacks_per_address_per_hour: int = Field(5, ge=1, le=1000)
    callbacks_per_number_per_day: int = Field(2, ge=1, le=100)
    link_days: int = Field(90, ge=1, le=400, description="how long a signed case link works")

    @field_validator("sites")
    @classmethod
    def _origins(cls, sites: list[str]) -> list[str]:
        for site in sites:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", site):
                raise ValueError(
                    f"{site!r}: a site is scheme and host (and port), e.g. https://www.example.com"
                )
        return sites


class PaymentsConfig(_Section):
    """Payment by link: the provider debtors pay through (Stripe, or a server answering as its
    API documents), and how long a link in a message or on the agent's screen stays valid."""

    provider: Literal["stripe"] = "stripe"
    api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.stripe.com"), description="the provider's API"
    )
    script_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://js.stripe.com/v3/"),
        description="the provider's script the payment page loads (it takes the card)",
    )
    secret_key: Secret = Field(
        ..., description="the API's secret key (sk_...), or PBX_ENGINE_PAYMENTS_SECRET_KEY"
    )
    publishable_key: str = Field(
        ..., pattern=r"^pk_[A-Za-z0-9_]+$", description="the key the page's script uses (pk_...)"
    )
    webhook_secret: Secret = Field(
        ...,
        description="the webhook endpoint's signing secret (whsec_...), or "
        "PBX_ENGINE_PAYMENTS_WEBHOOK_SECRET; the endpoint is <public_url>/payments/webhook",
    )
    link_days: float = Field(30.0, gt=0, le=366, description="how long a payment link works")
    timeout: float = Field(10.0, gt=0, description="seconds for the provider to answer")


class MessagesConfig(_Section):
    """Messages to debtors: where the templates are and what they may say of the sender."""

    templates_file: Path | None = Field(
        None, description="the messages file (TOML): templates by name and language"
    )
    company: str = Field("", description="who is writing, as templates' {{ company }} says it")
    callback_number: str = Field("", description="{{ callback_number }}: where debtors call")
    pay_link: str = Field(
        "",
        description="{{ pay_link }}: the creditor's payment page, with {reference} and "
        "{case_id} replaced (e.g. https://pay.acme.example/{reference})",
    )
    default_language: str = Field("en", description="for cases whose file gives none")
    strategy_every_seconds: float = Field(
        300.0, gt=0, description="how often campaigns' strategies look for steps due"
    )
    compliance: str = Field(
        "plain",
        description="the compliance profile whose hours messages keep to (us: 8 am to 9 pm "
        "in the debtor's time, as Reg F has it)",
    )
    max_per_case: int | None = Field(
        None,
        ge=1,
        description="at most this many messages (SMS and e-mail together) to a case in "
        "per_days; none: no cap beyond the profile's hours and the ledger",
    )
    per_days: float = Field(7.0, gt=0, description="the rolling period max_per_case counts")
    survey_templates: list[str] = Field(
        default_factory=list,
        description="templates that are satisfaction surveys: a reply to one whose first word "
        "is a score from 1 to 5 is kept as the survey's answer, for the agent of the case's "
        "last conversation",
    )
    revoke_all_from: date = Field(
        date(2027, 1, 31),
        description="from this day an opt-out of texts or automated calls, by any means, covers "
        "both (the FCC's 'revoke all' rule, whose compliance date this is); set an earlier day "
        "to apply it now",
    )


class EngineConfig(_Section):
    ari: AriConfig
    ami: AmiConfig | None = None
    agi: AgiConfig | None = None
    asterisk: AsteriskConfig = AsteriskConfig()
    database: DatabaseConfig = DatabaseConfig()
    dialer: DialerConfig = DialerConfig()
    agents: AgentsConfig = AgentsConfig()
    inbound: InboundConfig = InboundConfig()
    logging: LoggingConfig = LoggingConfig()
    http: HttpConfig | None = None
    web: WebConfig = WebConfig()
    metrics: MetricsConfig | None = None
    rooms: list[RoomConfig] = Field(default_factory=list)
    room_dids: list[str] = Field(
        default_factory=list,
        description="the DIDs a supervisor may give a room made through the API (the rooms "
        "of this file may use any); an agent never sets a room's DID or extension",
    )
    outbound: OutboundConfig = OutboundConfig()
    smtp: SmtpConfig | None = None
    imap: ImapConfig | None = None
    sms: SmsConfig | None = None
    lookup: LookupConfig | None = None
    payments: PaymentsConfig | None = None
    messages: MessagesConfig = MessagesConfig()
    webrtc: WebrtcConfig = WebrtcConfig()
    widget: WidgetConfig | None = None
    campaign_files: list[str] = Field(
        default_factory=list, description="campaign files or glob patterns, one campaign a file"
    )
    number_pools_file: Path | None = Field(
        None, description="caller-ID number pools (TOML); reloaded on SIGHUP"
    )
    default_region: str = Field("US", description="ISO country for numbers written without +")
    timezone: str = Field(
        "UTC",
        description="the contact centre's own zone (IANA name): where its days begin on the "
        "wallboard and in reports",
    )
    shutdown_grace: float = Field(30.0, ge=0, description="seconds to let live calls finish")
    state_dir: Path | None = Field(
        None,
        description="a folder only the engine writes: the writes it owes during a database "
        "outage are journalled there, so a crash or a stop then loses none (unset: they are "
        "kept in memory only)",
    )

    @field_validator("rooms")
    @classmethod
    def _rooms_are_distinct(cls, rooms: list[RoomConfig]) -> list[RoomConfig]:
        for what in ("name", "extension", "did"):
            values = [getattr(r, what) for r in rooms if getattr(r, what)]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"two rooms have the same {what}: {', '.join(twice)}")
        return rooms

    @field_validator("room_dids")
    @classmethod
    def _dids_are_e164(cls, dids: list[str]) -> list[str]:
        from pbx_engine.numbers import BadNumber, to_e164

        try:
            return [to_e164(did, "ZZ") if did.startswith("+") else did for did in dids]
        except BadNumber as error:
            raise ValueError(str(error)) from None

    @field_validator("timezone")
    @classmethod
    def _zone_is_known(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Warsaw)") from None
        return value

    @field_validator("default_region")
    @classmethod
    def _region_is_known(cls, value: str) -> str:
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (use an ISO 3166 code such as US, GB, PL)")
        return value

    @model_validator(mode="after")
    def _sms_has_somewhere_to_report(self) -> EngineConfig:
        if self.sms is not None and self.http is None:
            raise ValueError(
                "[sms] needs [http]: the gateway's delivery reports and debtors' replies come "
                "to the engine's HTTP server"
            )
        if self.payments is not None and self.http is None:
            raise ValueError(
                "[payments] needs [http]: debtors open their payment page there and the "
                "provider's webhook reaches the engine there"
            )
        return self


_ENV_SECRETS = {
    "PBX_ENGINE_ARI_PASSWORD": ("ari", "password"),
    "PBX_ENGINE_AMI_SECRET": ("ami", "secret"),
    "PBX_ENGINE_DATABASE_PASSWORD": ("database", "password"),
    "PBX_ENGINE_DATABASE_DSN": ("database", "dsn"),
    "PBX_ENGINE_HTTP_SECRET": ("http", "secret"),
    "PBX_ENGINE_SMTP_PASSWORD": ("smtp", "password"),
    "PBX_ENGINE_IMAP_PASSWORD": ("imap", "password"),
    "PBX_ENGINE_LOOKUP_PASSWORD": ("lookup", "password"),
    "PBX_ENGINE_SMS_PASSWORD": ("sms", "password"),
    "PBX_ENGINE_SMS_INBOUND_TOKEN": ("sms", "inbound_token"),
    "PBX_ENGINE_PAYMENTS_SECRET_KEY": ("payments", "secret_key"),
    "PBX_ENGINE_PAYMENTS_WEBHOOK_SECRET": ("payments", "webhook_secret"),
    "PBX_ENGINE_TURN_SECRET": ("webrtc", "turn_secret"),
}


def _apply_environment(raw: dict, environ: dict[str, str]) -> dict:
    for var, (section, key) in _ENV_SECRETS.items():
        optional = ("http", "smtp", "imap", "sms", "lookup", "payments", "webrtc")
        if section in optional and section not in raw:
            continue  # a secret alone must not switch the HTTP server (or a channel) on
        if var in environ:
            part = raw.setdefault(section, {})
            if isinstance(part, dict):
                part[key] = environ[var]
    return raw


def _describe(error: ValidationError, source: str, text: str | None = None) -> str:
    """One line per problem: the key, its line in `text` (the file) when known, the problem."""
    from pbx_engine.toml_lines import key_line

    lines = [f"{source}: {error.error_count()} problem(s)"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        line = key_line(text, item["loc"]) if text is not None else None
        if line is not None:
            key = f"{key} (line {line})"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_config(
    raw: dict,
    source: str = "<config>",
    environ: dict[str, str] | None = None,
    text: str | None = None,
) -> EngineConfig:
    """Validate an already-parsed mapping; `source` names it in error messages, `text` (the
    file's) gives them line numbers."""
    raw = _apply_environment(dict(raw), dict(os.environ) if environ is None else environ)
    try:
        return EngineConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source, text)) from None


def check_start_secrets(config: EngineConfig, source: str = "<config>") -> None:
    """What `run` needs beyond a valid file: the secrets Asterisk asks for are set (placeholders
    were refused while parsing). ConfigError, one line naming the setting, when one is missing."""
    missing = []
    if not config.ari.password.get_secret_value():
        missing.append(("ari.password", "PBX_ENGINE_ARI_PASSWORD"))
    if config.ami is not None and not config.ami.secret.get_secret_value():
        missing.append(("ami.secret", "PBX_ENGINE_AMI_SECRET"))
    if missing:
        key, var = missing[0]
        raise ConfigError(f"{source}: {key}: required to start: set it in the file or in {var}")


def read_text(path: str | Path) -> str:
    """A config file's text; ConfigError naming the file when it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None


def read_toml(path: str | Path, text: str | None = None) -> dict:
    """A TOML file's contents (`text`: already read); ConfigError naming the file when it
    cannot be read or parsed."""
    text = read_text(path) if text is None else text
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> EngineConfig:
    """Read and validate a TOML config file, raising ConfigError with the file, key and problem."""
    text = read_text(path)
    return parse_config(read_toml(path, text), str(path), environ, text)
