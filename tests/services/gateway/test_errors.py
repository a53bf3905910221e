"""Bad input of every kind answers in the OpenAI envelope: never a bare 500 or HTML."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from support.gateway import Gateway, assert_envelope
from tuneloop_core.errors import ConflictError


class Echo(BaseModel):
    text: str
    count: int = 1


@pytest.fixture
def with_probe_routes(gateway: Gateway) -> Gateway:
    """Routes that exist only to drive the shared error handlers: a JSON body route and
    routes that fail the two ways a handler can fail."""

    @gateway.app.post("/v1/probe/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @gateway.app.get("/v1/probe/crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail")

    @gateway.app.get("/v1/probe/conflict")
    async def conflict() -> None:
        raise ConflictError("job already finished", param="job_id", code="job_finished")

    return gateway


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nope"),
        ("GET", "/nope"),
        ("POST", "/v1/fine_tuning/unknown"),
        ("GET", "/console/nope.js"),
    ],
)
async def test_unknown_routes(gateway: Gateway, method: str, path: str) -> None:
    response = await gateway.http.request(method, path, headers=gateway.auth())
    error = assert_envelope(response, 404, "not_found")
    assert path in str(error["message"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/healthz"), ("POST", "/v1/models"), ("PUT", "/readyz")],
)
async def test_wrong_methods(gateway: Gateway, method: str, path: str) -> None:
    response = await gateway.http.request(method, path, headers=gateway.auth())
    error = assert_envelope(response, 405, "method_not_allowed")
    assert method in str(error["message"])


@pytest.mark.parametrize(
    "body",
    [b"{bad json", b"", b"[1, 2", b"\xff\xfe\x00", b'{"text": "a",}'],
)
async def test_malformed_json_is_400(with_probe_routes: Gateway, body: bytes) -> None:
    gateway = with_probe_routes
    headers = {**gateway.auth(), "content-type": "application/json"}
    response = await gateway.http.post("/v1/probe/echo", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_invalid_field_names_the_param(with_probe_routes: Gateway) -> None:
    gateway = with_probe_routes
    response = await gateway.http.post(
        "/v1/probe/echo", json={"text": "a", "count": "many"}, headers=gateway.auth()
    )
    error = assert_envelope(response, 400, "invalid_request")
    assert error["param"] == "count"
    ok = await gateway.http.post("/v1/probe/echo", json={"text": "a"}, headers=gateway.auth())
    assert ok.json() == {"text": "a", "count": 1}


async def test_domain_error_keeps_code_and_param(with_probe_routes: Gateway) -> None:
    gateway = with_probe_routes
    response = await gateway.http.get("/v1/probe/conflict", headers=gateway.auth())
    error = assert_envelope(response, 409, "job_finished")
    assert error["param"] == "job_id"


async def test_unexpected_exception_is_500_without_details(with_probe_routes: Gateway) -> None:
    gateway = with_probe_routes
    response = await gateway.http.get("/v1/probe/crash", headers=gateway.auth())
    error = assert_envelope(response, 500, "internal_error")
    assert error["type"] == "server_error"
    assert "secret" not in response.text


async def test_openapi_spec_is_served(gateway: Gateway) -> None:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/models" in spec["paths"]
    assert "/readyz" in spec["paths"]
