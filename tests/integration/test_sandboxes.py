"""The sandboxes say clearly what is wrong and leave nothing behind."""

import socket

import pytest

from pbx_engine.lab.sandbox.asterisk import ENGINE_HOST, PSTN_HOST, AsteriskSandbox
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.postgres import PostgresSandbox


async def test_given_no_asterisk_binary_when_starting_then_the_error_says_so():
    sandbox = AsteriskSandbox(
        "engine",
        sip_host=ENGINE_HOST,
        peer_host=PSTN_HOST,
        peer_port=5060,
        binary="asterisk-that-is-not-installed",
    )
    with pytest.raises(SandboxError, match="not found"):
        await sandbox.start()


async def test_given_the_sip_port_is_taken_when_starting_then_the_error_names_it():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((ENGINE_HOST, 0))
        port = holder.getsockname()[1]
        sandbox = AsteriskSandbox(
            "engine", sip_host=ENGINE_HOST, sip_port=port, peer_host=PSTN_HOST, peer_port=5060
        )
        with pytest.raises(SandboxError, match=rf"port {port}/udp on {ENGINE_HOST} is in use"):
            await sandbox.start()
        assert not sandbox.running
        await sandbox.stop()
        assert sandbox.run_dir is None or not sandbox.run_dir.exists()


async def test_given_the_postgres_port_is_taken_when_starting_then_the_error_names_it():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(SandboxError, match=rf"port {port}/tcp on 127.0.0.1 is in use"):
            await PostgresSandbox(port=port).start()


async def test_given_a_sandbox_when_stopped_then_its_folder_is_gone():
    async with PostgresSandbox() as sandbox:
        folder = sandbox.dir
        assert folder.exists()
    assert not folder.exists()
