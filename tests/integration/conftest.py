import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
async def _shared_world_at_rest(at_rest: None) -> None:
    """Each test starts with the shared engine and Asterisks at rest (plugins/leftovers.py)."""
