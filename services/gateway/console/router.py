"""Serves the web console: `GET /` is the page, `/console/*` its scripts and styles.

The assets live under `/console` rather than a catch-all mount at `/`, so an unknown or
mistyped API path still answers the OpenAI error envelope, never an HTML page. The
console keeps no state here: it calls the public `/v1` API with the key a person pastes.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PREFIX = "/console"
# Browsers revalidate each asset on load (cheap: ETag/304), so an upgraded gateway never
# runs a stale mix of old and new modules.
NO_STALE_CACHE = {"Cache-Control": "no-cache"}


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(NO_STALE_CACHE)
        return response


def install_console(app: FastAPI) -> None:
    """Add the console's page and its static assets to the app (no API key needed: the
    page holds nothing secret and asks for a key before it calls the API)."""

    @app.get("/", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=NO_STALE_CACHE)

    app.mount(ASSETS_PREFIX, _Assets(directory=STATIC_DIR), name="console")
