"""The engine behind a real TLS reverse proxy: Debian's nginx with the sample configuration
(docker/nginx/pbx-engine.conf) and a self-signed certificate made here with the openssl
command, in front of the shared engine's HTTP app in production mode.

Loopback has many addresses: the browser reaches nginx from 127.0.0.5, nginx reaches the
engine from 127.0.0.1 (the one trusted proxy), and a client that goes straight to the engine
comes from 127.0.0.3. So the engine's idea of the client's address tells whose word it took."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from pbx_engine.config import WebConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.resources import PROJECT_DIR
from pbx_engine.signin.passwords import hash_password
from pbx_engine.web.api import build_app
from tests.waiting import eventually

SAMPLE = PROJECT_DIR / "docker" / "nginx" / "pbx-engine.conf"
PASSWORD = "a long enough secret"
BROWSER_ADDRESS = "127.0.0.5"
DIRECT_ADDRESS = "127.0.0.3"


@dataclass(frozen=True)
class Proxied:
    https: str  # the public address, through nginx
    plain: str  # nginx's plain HTTP, which only sends browsers to HTTPS
    direct: str  # the engine itself
    tls: ssl.SSLContext  # trusts the test's certificate


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _render(sample: str, *, engine_port: int, tls_port: int, plain_port: int, cert, key) -> str:
    """The sample with this test's ports and files: every value replaced must be there."""
    changes = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{engine_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{tls_port} ssl;",
        "listen [::]:443 ssl;": "",
        "listen 80;": f"listen 127.0.0.1:{plain_port};",
        "listen [::]:80;": "",
        "/etc/ssl/pbx-engine/fullchain.pem": str(cert),
        "/etc/ssl/pbx-engine/privkey.pem": str(key),
    }
    for old, new in changes.items():
        assert old in sample, f"the sample proxy config lost {old!r}"
        sample = sample.replace(old, new)
    return sample


def _accepting(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
async def proxied(connected_engine: Engine, tmp_path: Path) -> AsyncIterator[Proxied]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    present = Path(nginx).exists()  # noqa: ASYNC240 (one stat before the proxy starts)
    assert present, "nginx is missing: scripts/setup.sh installs nginx-light"
    production = WebConfig(mode="production", trusted_proxies=["127.0.0.1/32"])
    server = TestServer(build_app(connected_engine, production), host="127.0.0.1")
    await server.start_server()
    cert, key = _certificate(tmp_path)
    tls_port, plain_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    site = _render(
        SAMPLE.read_text(),
        engine_port=server.port,
        tls_port=tls_port,
        plain_port=plain_port,
        cert=cert,
        key=key,
    )
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    temp.chmod(0o777)  # workers may run as another user
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {tmp_path}/site.conf;\n}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        *(nginx, "-e", str(tmp_path / "error.log"), "-p", str(tmp_path)),
        *("-c", str(tmp_path / "nginx.conf")),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def started() -> bool:
            if process.returncode is not None:
                log = tmp_path / "error.log"
                said = log.read_text() if log.exists() else (await process.stderr.read()).decode()
                raise AssertionError(f"nginx stopped: {said}")
            return _accepting(tls_port)

        await eventually(started, timeout=15, what="nginx listening")
        context = ssl.create_default_context(cafile=str(cert))
        yield Proxied(
            f"https://127.0.0.1:{tls_port}",
            f"http://127.0.0.1:{plain_port}",
            f"http://127.0.0.1:{server.port}",
            context,
        )
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)
        await server.close()


def _from(address: str) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(local_addr=(address, 0))


async def test_through_the_tls_proxy_the_cookie_is_secure_and_hsts_is_sent(
    proxied: Proxied, connected_engine: Engine
):
    await connected_engine.storage.agents.upsert_agent("nadia", "Nadia")
    await connected_engine.storage.sessions.set_password("nadia", hash_password(PASSWORD, n=2**10))
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: it keeps cookies of an IP address
    async with aiohttp.ClientSession(connector=_from(BROWSER_ADDRESS), cookie_jar=jar) as http:
        body = {"login": "nadia", "password": PASSWORD}
        origin = {"Origin": proxied.https}
        async with http.post(
            f"{proxied.https}/signin", json=body, headers=origin, ssl=proxied.tls
        ) as r:
            assert r.status == 200, await r.text()
            cookie = r.cookies["pbx_session"]
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            csrf = (await r.json())["csrf_token"]
        # The secure cookie goes back over TLS, and the websocket passes the proxy.
        wss = proxied.https.replace("https://", "wss://")
        async with http.ws_connect(f"{wss}/ws", headers=origin, ssl=proxied.tls) as ws:
            assert (await ws.receive_json(timeout=10))["kind"] == "snapshot"
        async with http.post(
            f"{proxied.https}/signout", headers={**origin, "X-CSRF-Token": csrf}, ssl=proxied.tls
        ) as r:
            assert r.status == 200
    async with aiohttp.ClientSession() as plain:
        async with plain.get(f"{proxied.plain}/desk/", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"].startswith("https://")


async def test_a_forwarded_address_is_believed_from_the_proxy_and_not_from_a_client(
    proxied: Proxied,
):
    """Failed sign-ins log the address the throttle counts."""
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    body = {"login": "nobody-here", "password": "wrong"}
    with capture_logs() as logs:
        async with aiohttp.ClientSession(connector=_from(BROWSER_ADDRESS)) as browser:
            async with browser.post(
                f"{proxied.https}/signin",
                json=body,
                headers={"Origin": proxied.https, **forged},
                ssl=proxied.tls,
            ) as r:
                assert r.status == 401
        async with aiohttp.ClientSession(connector=_from(DIRECT_ADDRESS)) as direct:
            async with direct.post(
                f"{proxied.direct}/signin",
                json=body,
                headers={"Origin": proxied.direct, **forged},
            ) as r:
                assert r.status == 401
                assert "Strict-Transport-Security" not in r.headers  # its https not believed
    addresses = [e["address"] for e in logs if e["event"] == "signin.refused"]
    # Through nginx: the address nginx saw (it replaced the forged header); straight to the
    # engine: the peer itself, its header ignored.
    assert addresses == [BROWSER_ADDRESS, DIRECT_ADDRESS]
