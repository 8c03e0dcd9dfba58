"""What the HTTP tier decides about a request before any handler runs (pure): who the client
is behind a reverse proxy, whether a sign-in's `next` stays on this site, whether a sign-in
comes from our own page, and the security headers every response carries."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pbx_engine.signin.sessions import login_digest as login_digest  # logs of sign-ins

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Our pages load scripts, styles and images from /static/ only, and talk to this host only
# (fetch and the websocket); nobody may frame them (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
NEXT_MAX_LENGTH = 2000


@dataclass(frozen=True)
class ClientView:
    """The client as the engine believes it: its address and whether it came over TLS."""

    address: str | None
    https: bool


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str | None, proxies: Sequence[Network]) -> bool:
    ip = _ip(address) if address else None
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in proxies)


def _forwarded_node(value: str) -> str:
    """A `for=` node of RFC 7239 as an address: quotes, brackets and the port taken off."""
    value = value.strip().strip('"')
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:  # IPv4 with a port; a bare IPv6 has several colons
        return value.partition(":")[0]
    return value


def _parse_forwarded(header: str) -> list[dict[str, str]]:
    elements = []
    for element in header.split(","):
        pairs = {}
        for pair in element.split(";"):
            key, _, value = pair.partition("=")
            if key.strip():
                pairs[key.strip().lower()] = value.strip().strip('"')
        elements.append(pairs)
    return elements


def client_view(
    peer: str | None, headers: Mapping[str, str], proxies: Sequence[Network], tls: bool
) -> ClientView:
    """The peer itself unless it is a trusted proxy. From a trusted proxy: the forwarded chain
    (`X-Forwarded-For`, else RFC 7239 `Forwarded`) is read from the right, skipping trusted
    proxies; the first address that is not one is the client. X-Forwarded-For comes first
    because nearly every proxy sets it, while many pass a client's own `Forwarded` through
    untouched. The proxy's word on the scheme (`X-Forwarded-Proto`, else `proto=`) counts only
    then too."""
    if not _trusted(peer, proxies):
        return ClientView(peer, tls)
    elements = _parse_forwarded(headers.get("Forwarded", ""))
    if "X-Forwarded-For" in headers:
        chain = [a.strip() for a in headers["X-Forwarded-For"].split(",") if a.strip()]
    else:
        chain = [_forwarded_node(e["for"]) for e in elements if "for" in e]
    if "X-Forwarded-Proto" in headers:
        proto = headers["X-Forwarded-Proto"].split(",")[-1].strip()
    else:
        proto = elements[-1].get("proto", "") if elements else ""
    address = peer
    for hop in reversed(chain):
        if _ip(hop) is None:
            break  # an obfuscated or garbled node: believe no further than the last good one
        address = hop
        if not _trusted(hop, proxies):
            break
    https = tls or proto.lower() == "https"
    return ClientView(address, https)


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path on this site, else None. Browsers read `\\` as `/`, drop tabs
    and newlines, and take `//host` as another site: any of those (also percent-encoded), a
    scheme or a host means the target could be elsewhere."""
    if not value or len(value) > NEXT_MAX_LENGTH:
        return None
    for form in (value, unquote(value)):
        if not form.startswith("/") or form.startswith("//"):
            return None
        if "\\" in form or any(ord(c) < 0x20 or ord(c) == 0x7F for c in form):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return None
    return value


def same_site_origin(origin: str | None, host: str | None) -> bool:
    """A sign-in must come from our own page: an Origin naming this host (a browser always
    sends one with a POST; without it, it is no page of ours)."""
    if not origin or not host or origin == "null":
        return False
    scheme, sep, rest = origin.partition("://")
    return bool(sep) and scheme in ("http", "https") and rest.rstrip("/") == host


def framed_by(sites: Sequence[str]) -> str:
    """The house policy, but these sites may show the page in a frame (the widget)."""
    ancestors = " ".join(sites) if sites else "'none'"
    return CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")


def security_headers(https: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers
