"""Server interceptor that turns any exception escaping an RPC into a gRPC status, and
counts every call (Prometheus: calls by status code, duration).

A `TuneloopError` becomes its own status code with `code`/`param` in trailing metadata; any
other exception is logged with its traceback and becomes INTERNAL with a generic message.
Handlers therefore never need try/except for error mapping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc
import grpc.aio

from tuneloop_core.errors import GRPC_META_CODE, GRPC_META_PARAM, InternalError, TuneloopError
from tuneloop_core.metrics import RPC_SECONDS, RPCS

log = logging.getLogger(__name__)


async def _abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    if isinstance(exc, TuneloopError):
        error = exc
    else:
        log.exception("unhandled error in RPC", exc_info=exc)
        error = InternalError("internal error; see the service log")
    metadata: list[tuple[str, str]] = [(GRPC_META_CODE, error.code)]
    if error.param:
        metadata.append((GRPC_META_PARAM, error.param))
    context.set_trailing_metadata(tuple(metadata))
    await context.abort(error.grpc_code, error.message)


class _Call:
    """Timing and status of one RPC, recorded when it ends."""

    def __init__(self, full_method: str):
        # "/tuneloop.inference.v1.InferenceService/Generate" → ("InferenceService", "Generate")
        service, _, method = full_method.rpartition("/")
        self.labels = (service.rsplit(".", 1)[-1], method)
        self.started = time.perf_counter()

    def done(self, code: grpc.StatusCode | None) -> None:
        name = (code or grpc.StatusCode.OK).name
        RPCS.labels(*self.labels, name).inc()
        RPC_SECONDS.labels(*self.labels).observe(time.perf_counter() - self.started)


def _status(exc: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    if isinstance(exc, TuneloopError):
        return exc.grpc_code
    if isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.UNKNOWN
    return grpc.StatusCode.INTERNAL


def _wrap_unary(
    behavior: Callable[..., Awaitable[Any]], method: str
) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        call = _Call(method)
        try:
            reply = await behavior(request, context)
        except grpc.aio.AbortError as exc:
            call.done(_status(exc, context))
            raise
        except Exception as exc:
            call.done(_status(exc, context))
            await _abort_with(context, exc)
        else:
            call.done(None)
            return reply

    return wrapper


def _wrap_stream(
    behavior: Callable[..., AsyncIterator[Any]], method: str
) -> Callable[..., AsyncIterator[Any]]:
    async def wrapper(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        call = _Call(method)
        try:
            async for item in behavior(request, context):
                yield item
        except grpc.aio.AbortError as exc:
            call.done(_status(exc, context))
            raise
        except Exception as exc:
            call.done(_status(exc, context))
            await _abort_with(context, exc)
        except BaseException:  # the client went away (cancelled, generator closed)
            call.done(grpc.StatusCode.CANCELLED)
            raise
        else:
            call.done(None)

    return wrapper


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps exceptions to statuses for unary and server-streaming RPCs."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, handler_call_details.method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                # grpc.aio servicers are async generators; the stubs type the sync API.
                _wrap_stream(
                    cast(Callable[..., AsyncIterator[Any]], handler.unary_stream),
                    handler_call_details.method,
                ),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
