"""Every HTTP failure, from any layer, leaves as the OpenAI error envelope."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tuneloop_core.errors import (
    InternalError,
    InvalidRequestError,
    TuneloopError,
    error_for_http_status,
)

log = logging.getLogger(__name__)


OLLAMA_PREFIX = "/api/"  # Ollama's native API answers errors as {"error": "<message>"}


def error_response(error: TuneloopError, path: str = "") -> JSONResponse:
    """The OpenAI envelope; Ollama's `{"error": message}` for a request under /api/."""
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    body = {"error": error.message} if path.startswith(OLLAMA_PREFIX) else error.envelope()
    return JSONResponse(body, status_code=error.http_status, headers=headers)


def _validation_error(exc: RequestValidationError) -> InvalidRequestError:
    """Pydantic's list of problems → one message naming the first bad parameter."""
    problems = exc.errors()
    first = problems[0] if problems else {}
    locations = [
        [str(part) for part in problem.get("loc", ()) if part not in ("body", "query")]
        for problem in problems
    ]
    # A value matching no member of a union fails once per member, each location ending
    # in the member's type ("...content.str"); the shared prefix is the parameter.
    location = _common_prefix(locations) or (locations[0] if locations else [])
    if first.get("type") == "json_invalid":
        return InvalidRequestError(
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            code="invalid_json",
        )
    param = ".".join(location) or None
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
        for e in problems
    )
    return InvalidRequestError(f"Invalid request: {detail}", param=param)


def _common_prefix(locations: list[list[str]]) -> list[str]:
    if len(locations) < 2:
        return []
    prefix: list[str] = []
    for parts in zip(*locations, strict=False):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    return prefix


def install_error_handlers(app: FastAPI) -> None:
    async def on_tuneloop_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TuneloopError)
        return error_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(_validation_error(exc), request.url.path)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed for {request.url.path}."
        else:
            message = str(exc.detail)
        return error_response(error_for_http_status(exc.status_code, message), request.url.path)

    async def on_unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        error = InternalError("The server had an error processing your request.")
        return error_response(error, request.url.path)

    app.add_exception_handler(TuneloopError, on_tuneloop_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unhandled)
