"""The security tier: each test tries one attack on the real engine and sandboxes (or on the
code that stands at the door, where no PBX is needed) and sees it refused. Tests are named after
what they try. They share the session's sandboxes with the integration tier."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/security/" in str(item.fspath):
            item.add_marker(pytest.mark.security)


@pytest.fixture(autouse=True)
async def _shared_world_at_rest(at_rest: None) -> None:
    """Each test starts with the shared engine and Asterisks at rest (plugins/leftovers.py)."""
