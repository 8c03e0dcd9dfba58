"""Libraries' log records (panoramisk, aiohttp, asyncio) come out as the engine's own lines:
one JSON object each when logging is JSON, with the library's name, numbers masked."""

import io
import json
import logging

import pytest
import structlog

from pbx_engine.logs import configure_logging, logs_as_json


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "pbx-engine"]:
        root.removeHandler(handler)


def test_given_json_logging_when_libraries_log_then_every_line_is_a_json_object():
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    assert logs_as_json()
    logging.getLogger("panoramisk.manager").warning("Not able to reconnect")
    logging.getLogger("aiohttp.access").info("GET /cases?n=%s", "+12025551234")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    structlog.get_logger("t").info("engine.started", app="pbx-engine")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["logger"] for line in lines[:3]] == [
        "panoramisk.manager",
        "aiohttp.access",
        "asyncio",
    ]
    assert lines[0]["event"] == "Not able to reconnect" and lines[0]["level"] == "warning"
    assert lines[1]["event"] == "GET /cases?n=+*******1234"
    assert "RuntimeError: boom" in lines[2]["exception"]
    assert lines[3]["event"] == "engine.started"
    assert all("timestamp" in line for line in lines)


def test_given_logging_configured_twice_then_library_lines_are_not_doubled():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=first)
    configure_logging("warning", "console", stream=second)
    assert not logs_as_json()
    logging.getLogger("panoramisk.manager").warning("Not able to reconnect")
    assert first.getvalue() == ""
    assert second.getvalue().count("Not able to reconnect") == 1
