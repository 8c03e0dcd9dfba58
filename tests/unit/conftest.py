"""Unit tests share one process with the integration tests that run after them."""

import logging

import pytest
import structlog


@pytest.fixture(autouse=True)
def _logging_left_as_found():
    # A command run in a test (`main([...])`) points logging at the stream pytest captured for
    # that test, which pytest closes afterwards: later tests that log would fail on it.
    handlers = list(logging.root.handlers)
    yield
    structlog.reset_defaults()
    for handler in logging.root.handlers[:]:
        if handler not in handlers:
            logging.root.removeHandler(handler)
