"""Server-sent events in OpenAI's dialect: `data: <json>` per chunk, `data: [DONE]` at the
end, and an error inside the stream as `data: {"error": {...}}` (the status is already
200 by then). Errors before the first chunk still answer with a proper HTTP status."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from tuneloop_core.errors import InternalError, TuneloopError

log = logging.getLogger(__name__)


async def _events(chunks: AsyncIterator[BaseModel]) -> AsyncIterator[dict[str, str]]:
    try:
        async for chunk in chunks:
            yield {"data": chunk.model_dump_json(exclude_none=False)}
    except TuneloopError as exc:
        yield {"data": _json(exc)}
    except Exception:
        log.exception("error inside a stream")
        yield {"data": _json(InternalError("The server had an error while streaming."))}
    yield {"data": "[DONE]"}


def _json(error: TuneloopError) -> str:
    import json

    return json.dumps(error.envelope(), ensure_ascii=False)


def sse_response(chunks: AsyncIterator[BaseModel]) -> EventSourceResponse:
    """Stream `chunks`; if the client disconnects, the generator is cancelled, which
    cancels the gRPC call and so the generation itself."""
    return EventSourceResponse(_events(chunks), ping=15, sep="\n")
