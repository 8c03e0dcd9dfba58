"""The test hosts' addressing and clean-up decisions (pure parts of lab.sandbox.netns)."""

import ipaddress

import pytest

from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.netns import (
    LINKS_PER_PROCESS,
    TEST_RANGE,
    interface_name,
    link_addresses,
    stale_namespaces,
)


@pytest.mark.parametrize("pid", [1, 2, 511, 512, 4_194_304])
def test_a_process_links_get_distinct_slash_30s_inside_the_test_range(pid):
    pairs = [link_addresses(pid, index) for index in range(LINKS_PER_PROCESS)]
    networks = set()
    for near, far in pairs:
        near_ip, far_ip = ipaddress.IPv4Address(near), ipaddress.IPv4Address(far)
        assert near_ip in TEST_RANGE and far_ip in TEST_RANGE
        network = ipaddress.IPv4Network(f"{near}/30", strict=False)
        # The two usable addresses of the /30, never its network or broadcast address.
        assert list(network.hosts()) == [near_ip, far_ip]
        networks.add(network)
    assert len(networks) == LINKS_PER_PROCESS


def test_neighbouring_processes_do_not_share_a_link():
    first = {link_addresses(1000, i) for i in range(LINKS_PER_PROCESS)}
    second = {link_addresses(1001, i) for i in range(LINKS_PER_PROCESS)}
    assert not first & second


def test_a_link_index_past_the_process_share_is_refused():
    with pytest.raises(SandboxError, match="at most"):
        link_addresses(1, LINKS_PER_PROCESS)


def test_interface_names_fit_linux_15_characters_for_any_pid():
    assert len(interface_name(4_194_304, LINKS_PER_PROCESS - 1)) <= 15


def test_only_our_namespaces_of_dead_processes_are_stale():
    names = ["pbxe-10-db", "pbxe-11-db", "pbxe-10-pbx", "other-10-db", "pbxe-x-db", "pbxe-12"]
    assert stale_namespaces(names, alive={11}) == ["pbxe-10-db", "pbxe-10-pbx"]
