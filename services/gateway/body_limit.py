"""A cap on request bodies (JSON requests; uploads have their own, larger one): a body
over it is refused with 413 in the OpenAI envelope — at once when its Content-Length says
so, as soon as the limit is passed when it is sent in chunks — before anything parses it."""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import error_response
from tuneloop_core.errors import PayloadTooLargeError


def is_upload(scope: Scope) -> bool:
    """`POST /v1/files` and `POST /v1/adapters`: multipart uploads, capped in their routers
    (`max_upload_mb`, `adapter_max_archive_mb`)."""
    path = scope["path"].rstrip("/")
    return bool(scope["method"] == "POST" and path in ("/v1/files", "/v1/adapters"))


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limit_bytes: int, exempt: Callable[[Scope], bool] = is_upload
    ):
        self.app = app
        self.limit_bytes = limit_bytes
        self.exempt = exempt

    def _message(self) -> str:
        return (
            f"The request body is larger than the limit of {self.limit_bytes >> 20} MiB "
            "(TUNELOOP_GATEWAY_MAX_REQUEST_MB); upload large data as a file (/v1/files)."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit_bytes:
            response = error_response(PayloadTooLargeError(self._message()), scope["path"])
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit_bytes:
                    # An HTTPException passes FastAPI's body parsing unchanged (anything
                    # else becomes a 400 there); the error handlers give it the envelope.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)
