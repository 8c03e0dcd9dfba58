"""The API's machine-readable description: it lists exactly the routes the app serves, is valid
OpenAPI 3, describes each body with its pydantic model, and is served to anyone."""

from unittest.mock import MagicMock

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from pbx_engine.config import WebConfig
from pbx_engine.web.api import build_app
from pbx_engine.web.common import Payload
from pbx_engine.web.openapi import OPENAPI_PATH, ROUTES, Role, document, may_call, router_routes


def _app():
    # Building the app only files the engine's parts under their keys; the routes are what is
    # looked at.
    return build_app(MagicMock(), WebConfig(mode="development"))


def test_the_table_and_the_router_list_exactly_the_same_routes():
    served = router_routes(_app())
    described = {(route.method, route.path) for route in ROUTES}
    assert sorted(served - described) == [], "routes served but not described in web/openapi.py"
    assert sorted(described - served) == [], "routes described in web/openapi.py but not served"
    assert len(described) == len(ROUTES), "a route is described twice"


def test_the_document_is_valid_openapi_3():
    validate(document())


def test_every_operation_says_who_may_call_it_and_public_ones_need_no_credentials():
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            role = Role(operation["x-role"])
            if role is Role.PUBLIC:
                assert operation["security"] == [], (method, path)
            else:
                assert operation["security"], (method, path)
                assert "401" in operation["responses"], (method, path)


def test_each_body_is_described_by_its_pydantic_model():
    schemas = document()["components"]["schemas"]
    for route in ROUTES:
        if route.body is None:
            continue
        schema = schemas[route.body.__name__]
        assert schema["properties"].keys() == route.body.model_fields.keys()
    # Models used inside a body (enums) are components too, referenced from it.
    assert schemas["Disposition"]["enum"]
    assert schemas["DispositionPayload"]["properties"]["code"] == {
        "$ref": "#/components/schemas/Disposition"
    }
    assert schemas["RoomPayload"]["additionalProperties"] is False  # unknown fields refused


def test_every_request_body_model_of_the_handlers_is_described():
    def subclasses(model):
        for sub in model.__subclasses__():
            yield sub
            yield from subclasses(sub)

    described = {route.body for route in ROUTES}
    handlers = {m for m in subclasses(Payload) if m.__module__.startswith("pbx_engine.web.")}
    assert sorted(m.__name__ for m in handlers - described) == []


def test_path_parameters_with_few_values_list_them():
    agent_action = document()["paths"]["/agents/me/{action}"]["post"]
    (action,) = agent_action["parameters"]
    assert action["schema"]["enum"] == ["ready", "pause", "logout"]  # login has its own
    assert agent_action["requestBody"]["required"] is False  # only pause reads a body


@pytest.mark.parametrize(
    ("caller", "role", "allowed"),
    [
        (None, Role.PUBLIC, True),
        (None, Role.AGENT, False),
        ("agent", Role.AGENT, True),
        ("agent", Role.SUPERVISOR, False),
        ("supervisor", Role.SUPERVISOR, True),
        ("supervisor", Role.ADMIN, False),
        ("admin", Role.SUPERVISOR, True),
        ("admin", Role.ADMIN, True),
    ],
)
def test_who_may_call_a_route(caller, role, allowed):
    assert may_call(caller, role) is allowed


async def test_the_document_is_served_without_credentials():
    async with TestClient(TestServer(_app())) as client:
        response = await client.get(OPENAPI_PATH)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == document()
