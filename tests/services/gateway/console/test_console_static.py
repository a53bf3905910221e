"""The console is served at `/` without shadowing the API, its docs or health checks."""

from __future__ import annotations

import re

from services.gateway.console.router import STATIC_DIR
from support.gateway import Gateway, assert_envelope


async def test_page_and_assets_are_served_without_a_key(gateway: Gateway) -> None:
    page = await gateway.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text)
    assert "/console/app.js" in assets and "/console/style.css" in assets
    for asset in assets:
        response = await gateway.http.get(asset)
        assert response.status_code == 200, asset
    script = await gateway.http.get("/console/pages/train.js")
    assert "javascript" in script.headers["content-type"]


async def test_every_module_import_resolves_to_a_file() -> None:
    """A typo in an import path would only show as a blank page in a browser."""
    for module in STATIC_DIR.rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"|import\("(\.[^"]+)"\)', module.read_text()):
            relative = next(part for part in target if part)
            assert (module.parent / relative).resolve().is_file(), f"{module}: {relative}"


async def test_the_api_keeps_its_own_answers(gateway: Gateway) -> None:
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.http.get("/openapi.json")).status_code == 200
    assert (await gateway.http.get("/docs")).status_code == 200
    assert_envelope(await gateway.http.get("/v1/models"), 401, "missing_api_key")
    assert_envelope(await gateway.http.get("/v1/nope", headers=gateway.auth()), 404, "not_found")
    assert_envelope(await gateway.http.get("/console/missing.js"), 404, "not_found")
    assert_envelope(await gateway.http.post("/"), 405, "method_not_allowed")
    paths = (await gateway.http.get("/openapi.json")).json()["paths"]
    assert "/" not in paths  # the console is no part of the API's contract
