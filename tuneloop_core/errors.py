"""The one error taxonomy of Tuneloop.

Every domain error carries its HTTP status, gRPC status code and OpenAI error `type`; the
gRPC interceptor, the gateway's exception handlers and the gateway's gRPC client all use
the table below, so a `NotFoundError` raised in a service reaches an OpenAI SDK user as a
404 `openai.NotFoundError` with the same message, code and param.
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc


class TuneloopError(Exception):
    """Base of every error a user may see. Subclasses fix the status codes."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    openai_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error body: {"error": {"message", "type", "param", "code"}}."""
        return {
            "error": {
                "message": self.message,
                "type": self.openai_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, param={self.param!r})"


class InvalidRequestError(TuneloopError):
    """The request is malformed or names something that cannot work."""

    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    openai_type = "invalid_request_error"
    default_code = "invalid_request"


class AuthenticationError(TuneloopError):
    """No API key, or one that is unknown or revoked."""

    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    openai_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(TuneloopError):
    """The key is valid but may not do this."""

    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    openai_type = "permission_error"
    default_code = "permission_denied"


class NotFoundError(TuneloopError):
    """The object does not exist, or belongs to another tenant (never say which)."""

    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    openai_type = "invalid_request_error"
    default_code = "not_found"


class MethodNotAllowedError(TuneloopError):
    """The route exists but not with this HTTP method."""

    http_status = 405
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    openai_type = "invalid_request_error"
    default_code = "method_not_allowed"


class ConflictError(TuneloopError):
    """The object is in a state that forbids the operation, e.g. cancelling a finished job."""

    http_status = 409
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    openai_type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLargeError(TuneloopError):
    """An upload or request body over the configured limit."""

    http_status = 413
    grpc_code = grpc.StatusCode.OUT_OF_RANGE
    openai_type = "invalid_request_error"
    default_code = "payload_too_large"


class RateLimitError(TuneloopError):
    """Too many requests or a full queue; retry later."""

    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    openai_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    retryable = True


class NotImplementedYetError(TuneloopError):
    """A contract operation this deployment does not provide."""

    http_status = 501
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    openai_type = "server_error"
    default_code = "not_implemented"


class ServiceUnavailableError(TuneloopError):
    """A dependency (a service, NATS, the database) cannot be reached; retry later."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    openai_type = "server_error"
    default_code = "service_unavailable"
    retryable = True


class DeadlineExceededError(TuneloopError):
    """A dependency took longer than allowed."""

    http_status = 504
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    openai_type = "server_error"
    default_code = "timeout"
    retryable = True


class InternalError(TuneloopError):
    """A bug; the message is generic and the details are in the logs."""


# gRPC status → error class, used by clients to turn a failed RPC back into a domain error.
# UNIMPLEMENTED maps to NotImplementedYetError: that is what a missing RPC means remotely.
_BY_GRPC_CODE: dict[grpc.StatusCode, type[TuneloopError]] = {
    cls.grpc_code: cls
    for cls in (
        InvalidRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        RateLimitError,
        NotImplementedYetError,
        ServiceUnavailableError,
        DeadlineExceededError,
        InternalError,
    )
}
_BY_GRPC_CODE[grpc.StatusCode.ALREADY_EXISTS] = ConflictError
_BY_GRPC_CODE[grpc.StatusCode.ABORTED] = ConflictError
_BY_GRPC_CODE[grpc.StatusCode.CANCELLED] = ServiceUnavailableError

# Trailing-metadata keys that carry `code` and `param` across a gRPC hop.
GRPC_META_CODE = "tuneloop-error-code"
GRPC_META_PARAM = "tuneloop-error-param"


def error_class_for_grpc(code: grpc.StatusCode) -> type[TuneloopError]:
    """The domain error class for a gRPC status code (INTERNAL when unknown)."""
    return _BY_GRPC_CODE.get(code, InternalError)


def error_for_http_status(status: int, message: str) -> TuneloopError:
    """A domain error for an HTTP status raised by the web framework itself (404, 405…)."""
    by_status: dict[int, type[TuneloopError]] = {
        400: InvalidRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        405: MethodNotAllowedError,
        409: ConflictError,
        413: PayloadTooLargeError,
        422: InvalidRequestError,
        429: RateLimitError,
        503: ServiceUnavailableError,
        504: DeadlineExceededError,
    }
    return by_status.get(status, InternalError)(message)
