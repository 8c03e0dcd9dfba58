"""Test tiers: tests/unit needs nothing but Python; tests/integration runs against the real
sandboxes (Asterisk, PSTN Asterisk, SIP peers, PostgreSQL), started once per test session."""

pytest_plugins = [
    "tests.plugins.postgres",
    "tests.plugins.leftovers",  # before asterisk, which imports it
    "tests.plugins.asterisk",
]
