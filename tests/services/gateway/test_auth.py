"""API-key auth on every /v1 route, answered in the OpenAI envelope."""

from __future__ import annotations

import httpx
import openai
import pytest

from support.gateway import Gateway, assert_envelope


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_missing_key_is_401(gateway: Gateway, headers: dict[str, str]) -> None:
    response = await gateway.http.get("/v1/models", headers=headers)
    error = assert_envelope(response, 401, "missing_api_key")
    assert error["type"] == "invalid_request_error"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_invalid_key_is_401(gateway: Gateway) -> None:
    response = await gateway.http.get("/v1/models", headers=gateway.auth("tl-not-a-real-key"))
    assert_envelope(response, 401, "invalid_api_key")


async def test_revoked_key_is_401(gateway: Gateway) -> None:
    key, record = gateway.state.registry.sync.create_api_key("acme", "to revoke")
    assert (await gateway.http.get("/v1/models", headers=gateway.auth(key))).status_code == 200
    gateway.state.registry.sync.revoke_api_key(record.id)
    response = await gateway.http.get("/v1/models", headers=gateway.auth(key))
    assert_envelope(response, 401, "invalid_api_key")


async def test_auth_runs_before_routing_errors(gateway: Gateway) -> None:
    """An unknown /v1 route without a key does not reveal whether it exists."""
    response = await gateway.http.get("/v1/models/some-model")
    assert_envelope(response, 401, "missing_api_key")


async def test_created_key_lists_models(gateway: Gateway) -> None:
    response = await gateway.http.get("/v1/models", headers=gateway.auth())
    assert response.status_code == 200
    assert response.json() == {"object": "list", "data": [], "has_more": False}


async def test_official_sdk_sees_auth_errors_as_its_own(gateway: Gateway) -> None:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport) as http:
        good = openai.AsyncOpenAI(base_url="http://gw/v1", api_key=gateway.key, http_client=http)
        page = await good.models.list()
        assert page.data == []
        bad = openai.AsyncOpenAI(base_url="http://gw/v1", api_key="tl-wrong", http_client=http)
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.models.list()
        assert caught.value.code == "invalid_api_key"
        with pytest.raises(openai.NotFoundError) as missing:
            await good.models.retrieve("no-such-model")
        assert missing.value.code == "model_not_found"
