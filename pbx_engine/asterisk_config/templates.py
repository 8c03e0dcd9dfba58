"""The pure part of rendering: placeholder values from the engine's config, and substitution."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path

from pbx_engine.config import (
    NOT_IN_ASTERISK_FILES_SAID,
    ConfigError,
    EngineConfig,
    fits_asterisk_files,
)
from pbx_engine.resources import ASTERISK_CONFIG_DIR, DIALPLANS_DIR

PLACEHOLDERS = frozenset(
    {
        "RUN_DIR", "SYSTEM_NAME", "MODULES_DIR", "DATA_DIR", "SOUNDS_DIR", "RECORDINGS_DIR",
        "HTTP_PORT", "ARI_USERNAME", "ARI_PASSWORD", "ARI_APP",
        "AMI_PORT", "AMI_USERNAME", "AMI_SECRET",
        "SIP_HOST", "SIP_PORT", "PEER_HOST", "PEER_PORT",
        "RTP_START", "RTP_END", "AGI_URL", "AGENTS", "AGENT_RTP_TIMEOUT", "HTTP_TLS",
    }
)  # fmt: skip

_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")
# The rendered http.conf and manager.conf listen on loopback only (ARI and AMI carry call
# control and secrets in clear): the engine must reach them there.
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# The Unix socket `asterisk -rx` talks to: sun_path holds 108 bytes with the final NUL.
_MAX_SOCKET_PATH = 107
# The carrier endpoint's name in asterisk-config/engine/pjsip.conf.
TRUNK_ENDPOINT = "pstn"


class RenderError(ConfigError):
    """Asterisk's configuration cannot be rendered; the message names the setting or the
    template's file and line."""


def render(text: str, values: dict[str, str], name: str = "<template>") -> str:
    """Fill `@@NAME@@` placeholders; an unknown one is a RenderError naming file and line."""

    def fill(found: re.Match[str]) -> str:
        key = found.group(1)
        if key not in values:
            line = text.count("\n", 0, found.start()) + 1
            raise RenderError(f"{name}:{line}: unknown placeholder @@{key}@@")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def placeholders_in(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def agent_sections(agents: dict[str, str]) -> str:
    """pjsip.conf sections for agents' softphones (name -> password), on the templates of
    asterisk-config/engine/pjsip.conf."""
    sections = []
    for name, password in agents.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not fits_asterisk_files(password):
            raise RenderError(f"agent endpoint {name!r} or its password cannot go into pjsip.conf")
        sections.append(
            f"[{name}](agent-endpoint)\nauth = {name}\naors = {name}\n\n"
            f"[{name}](agent-aor)\n\n"
            f"[{name}](agent-auth)\nusername = {name}\npassword = {password}\n"
        )
    return "\n".join(sections)


def _secret(value: str, key: str, variable: str) -> str:
    if not value:
        raise RenderError(f"{key}: required by Asterisk's configuration: set it or {variable}")
    if not fits_asterisk_files(value):
        raise RenderError(f"{key}: holds {NOT_IN_ASTERISK_FILES_SAID}")
    return value


def _loopback(host: str, key: str) -> None:
    if host not in _LOOPBACK:
        raise RenderError(
            f"{key}: {host} is not this host's loopback: the rendered Asterisk listens on "
            "127.0.0.1 only (use 127.0.0.1)"
        )


def _node_url(config: EngineConfig, node: str | None) -> tuple[str, str, str, int, str]:
    """(name, scheme, host, port, setting) of the node rendered for: [ari]'s own, or the
    [[ari.nodes]] entry named `node`."""
    ari = config.ari
    if node is None or node == ari.node:
        return ari.node, ari.url.scheme, ari.url.host or "", ari.url.port or 80, "ari.url"
    for entry in ari.nodes:
        if entry.name == node:
            url = entry.url
            return node, url.scheme, url.host or "", url.port or 80, f"ari.nodes {node!r} url"
    known = ", ".join([ari.node, *(n.name for n in ari.nodes)])
    raise RenderError(f"--node {node}: no such node in [ari] (nodes: {known})")


def _tls_lines(config: EngineConfig, host: str, port: int, setting: str) -> str:
    """http.conf's TLS listener for a node the engine reaches over https: on the node's own
    address (its plain listener stays on loopback, for tools on the node)."""
    asterisk = config.asterisk
    if asterisk.tls_certificate is None:
        raise RenderError(
            f"asterisk.tls_certificate: required: {setting} is https (ARI over TLS), and "
            "Asterisk needs a certificate for it"
        )
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise RenderError(
            f"{setting}: {host} is a name: give the node's address (Asterisk binds it)"
        ) from None
    if address.is_unspecified or str(address) in ("127.0.0.1", "::1"):
        raise RenderError(
            f"{setting}: {host}: give the address the engine reaches the node at (127.0.0.1 "
            "keeps the plain listener, for tools on the node)"
        )
    lines = [
        "; ARI over TLS on the node's address: call control and its password cross the network.",
        "tlsenable = yes",
        f"tlsbindaddr = {host}:{port}",
        f"tlscertfile = {asterisk.tls_certificate}",
    ]
    if asterisk.tls_private_key is not None:
        lines.append(f"tlsprivatekey = {asterisk.tls_private_key}")
    return "\n".join(lines)


def engine_values(
    config: EngineConfig, run_dir: Path | None = None, agents: str = "", node: str | None = None
) -> dict[str, str]:
    """Every placeholder's value, from the engine's config; `run_dir` overrides
    [asterisk] run_dir, `agents` is the text of the agents' pjsip sections, `node` names the
    Asterisk node rendered for ([ari]'s own when None; another host's from [[ari.nodes]])."""
    asterisk = config.asterisk
    run = Path(run_dir or asterisk.run_dir)
    if asterisk.trunk_host is None:
        raise RenderError("asterisk.trunk_host: required: the carrier's SIP address")
    if config.dialer.trunk != TRUNK_ENDPOINT:
        raise RenderError(
            f"dialer.trunk: {config.dialer.trunk!r}, but the rendered pjsip.conf names the "
            f"carrier endpoint {TRUNK_ENDPOINT!r} (set dialer.trunk = {TRUNK_ENDPOINT!r})"
        )
    if asterisk.rtp_end <= asterisk.rtp_start:
        raise RenderError("asterisk.rtp_end: must be above asterisk.rtp_start")
    control = run / "run" / "asterisk.ctl"
    if len(str(control).encode()) > _MAX_SOCKET_PATH:
        raise RenderError(f"{run}: too long a path for Asterisk's control socket {control}")
    name, scheme, host, http_port, setting = _node_url(config, node)
    if scheme == "https":
        http_tls = _tls_lines(config, host, http_port, setting)
    else:
        _loopback(host, setting)
        http_tls = ""
    ami_user, ami_secret, ami_port = "pbx-engine", secrets.token_urlsafe(24), 5038
    if config.ami is not None:
        _loopback(config.ami.host, "ami.host")
        ami_user, ami_port = config.ami.username, config.ami.port
        ami_secret = _secret(
            config.ami.secret.get_secret_value(), "ami.secret", "PBX_ENGINE_AMI_SECRET"
        )
    agi = config.agi
    values = {
        "RUN_DIR": str(run),
        "SYSTEM_NAME": name,
        "MODULES_DIR": str(asterisk.modules_dir),
        "DATA_DIR": str(asterisk.data_dir),
        "SOUNDS_DIR": str(run / "sounds"),
        "RECORDINGS_DIR": str(run / "recordings"),
        "HTTP_PORT": str(http_port),
        "ARI_USERNAME": config.ari.username,
        "ARI_PASSWORD": _secret(
            config.ari.password.get_secret_value(), "ari.password", "PBX_ENGINE_ARI_PASSWORD"
        ),
        "ARI_APP": config.ari.app,
        "AGI_URL": f"agi://{agi.host}:{agi.port}" if agi else "agi://127.0.0.1:4573",
        "AMI_PORT": str(ami_port),
        "AMI_USERNAME": ami_user,
        "AMI_SECRET": ami_secret,
        "SIP_HOST": asterisk.sip_host,
        "SIP_PORT": str(asterisk.sip_port),
        "PEER_HOST": asterisk.trunk_host,
        "PEER_PORT": str(asterisk.trunk_port),
        "RTP_START": str(asterisk.rtp_start),
        "RTP_END": str(asterisk.rtp_end),
        "AGENT_RTP_TIMEOUT": str(asterisk.agent_rtp_timeout),
    }
    for key, value in values.items():
        if "\n" in value or ";" in value:
            raise RenderError(f"the value for @@{key}@@ holds ; or a line break: {value!r}")
    values["AGENTS"] = agents
    values["HTTP_TLS"] = http_tls  # its paths checked by _tls_lines
    return values


def profile_templates(
    profile: str,
    config_dir: Path = ASTERISK_CONFIG_DIR,
    dialplans_dir: Path = DIALPLANS_DIR,
) -> dict[str, Path]:
    """Name in etc/ -> template: the common files, the profile's over them, the dialplan."""
    if not (config_dir / profile).is_dir():
        raise RenderError(f"no Asterisk profile {profile!r} in {config_dir}")
    dialplan = dialplans_dir / f"{profile}.conf"
    if not dialplan.is_file():
        raise RenderError(f"no dialplan {profile}.conf in {dialplans_dir}")
    sources = {p.name: p for p in sorted((config_dir / "common").glob("*.conf"))}
    sources.update({p.name: p for p in sorted((config_dir / profile).glob("*.conf"))})
    sources["dialplan.conf"] = dialplan
    return sources


def render_profile(
    profile: str,
    values: dict[str, str],
    config_dir: Path = ASTERISK_CONFIG_DIR,
    dialplans_dir: Path = DIALPLANS_DIR,
) -> dict[str, str]:
    """Name in etc/ -> rendered text, for one profile's templates."""
    return {
        name: render(source.read_text(encoding="utf-8"), values, str(source))
        for name, source in profile_templates(profile, config_dir, dialplans_dir).items()
    }
