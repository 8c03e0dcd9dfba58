"""Test tiers: tests/unit needs nothing but Python; tests/integration runs against the real
sandboxes (Asterisk, PSTN Asterisk, SIP peers, PostgreSQL), started once per test session."""

pytest_plugins = [
    "tests.plugins.postgres",
    "tests.plugins.leftovers",  # before asterisk, which imports it
    "tests.plugins.asterisk",
]

from hypothesis import settings  # noqa: E402

# Property tests judge answers, not speed: hypothesis's per-example deadline (200 ms) fails one
# whose first example loads a library's data while the machine is busy (a CI run, a parallel
# tier), which says nothing about the code.
settings.register_profile("pbx-engine", deadline=None)
settings.load_profile("pbx-engine")
