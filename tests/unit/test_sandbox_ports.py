"""How the sandboxes pick UDP blocks for media: the first ports of a block, which programs such
as SIPp bind exactly as given (audio and video RTP and RTCP), must each be free; a block with
any of them taken is passed over."""

import socket

import pytest

from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_udp_range


def a_free_even_block(size: int, blocks: int) -> int:
    for start in range(47000, 60000, size * blocks):
        probes = []
        try:
            for port in range(start, start + size * blocks):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return start
    raise AssertionError("no free ports to test with")


@pytest.mark.parametrize("taken_offset", [0, 1, 2, 3])
def test_given_one_of_a_blocks_first_four_ports_taken_then_the_other_block_is_picked(taken_offset):
    start = a_free_even_block(20, 2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", start + taken_offset))
        for _ in range(10):  # whichever block the random start looks at first
            assert free_udp_range("127.0.0.1", 20, start=start, stop=start + 40) == start + 20


def test_given_every_block_taken_then_the_error_says_so():
    start = a_free_even_block(20, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", start + 2))
        with pytest.raises(SandboxError, match="no 20 free UDP ports"):
            free_udp_range("127.0.0.1", 20, start=start, stop=start + 20)


async def test_a_server_that_finds_its_port_taken_is_started_again_on_another(tmp_path):
    import sys

    from pbx_engine.lab.sandbox.process import end, launch_on_free_port

    held = []

    def take_the_first(port: int) -> None:
        # Someone else binds the first port chosen, between its choice and the server's bind
        # (as an outgoing connection's ephemeral port does: bound, not listening).
        if not held:
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            held.append(sock)

    server = (
        "import socket, sys, time; s = socket.socket(); "
        "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(30)"
    )
    process, port = await launch_on_free_port(
        lambda port: [sys.executable, "-c", server, str(port)],
        host="127.0.0.1",
        what="a test server",
        log_file=tmp_path / "server.log",
        timeout=10,
        prepare=take_the_first,
    )
    try:
        assert port != held[0].getsockname()[1]
        assert process.returncode is None
    finally:
        await end(process, "a test server", grace=1)
        held[0].close()
