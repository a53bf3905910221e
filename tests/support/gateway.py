"""A gateway under test and the OpenAI error-envelope assertion."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from services.gateway.state import GatewayState


@dataclass
class Gateway:
    app: FastAPI
    state: GatewayState
    http: httpx.AsyncClient
    key: str  # a valid key of tenant "acme"

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)
