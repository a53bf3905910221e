"""The error taxonomy: each class's HTTP status, gRPC code and OpenAI envelope, and the
trip through a real in-process gRPC server and back into the same class."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import pytest

from tests.conftest import free_port
from tuneloop.common.v1 import common_pb2
from tuneloop.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tuneloop_core import errors
from tuneloop_core.errors import (
    AuthenticationError,
    ConflictError,
    DeadlineExceededError,
    InternalError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    NotImplementedYetError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    TuneloopError,
)
from tuneloop_core.grpc.client import call, check_health, open_channel
from tuneloop_core.grpc.server import RunningServer, start_server

SC = grpc.StatusCode
INVALID = "invalid_request_error"
SERVER = "server_error"
PERMISSION = "permission_error"
RATE_LIMIT = "rate_limit_error"
# class: (HTTP status, gRPC code, OpenAI type, default code, retryable)
TABLE: dict[type[TuneloopError], tuple[int, grpc.StatusCode, str, str, bool]] = {
    InvalidRequestError: (400, SC.INVALID_ARGUMENT, INVALID, "invalid_request", False),
    AuthenticationError: (401, SC.UNAUTHENTICATED, INVALID, "invalid_api_key", False),
    PermissionDeniedError: (403, SC.PERMISSION_DENIED, PERMISSION, "permission_denied", False),
    NotFoundError: (404, SC.NOT_FOUND, INVALID, "not_found", False),
    MethodNotAllowedError: (405, SC.UNIMPLEMENTED, INVALID, "method_not_allowed", False),
    ConflictError: (409, SC.FAILED_PRECONDITION, INVALID, "conflict", False),
    PayloadTooLargeError: (413, SC.OUT_OF_RANGE, INVALID, "payload_too_large", False),
    RateLimitError: (429, SC.RESOURCE_EXHAUSTED, RATE_LIMIT, "rate_limit_exceeded", True),
    NotImplementedYetError: (501, SC.UNIMPLEMENTED, SERVER, "not_implemented", False),
    ServiceUnavailableError: (503, SC.UNAVAILABLE, SERVER, "service_unavailable", True),
    DeadlineExceededError: (504, SC.DEADLINE_EXCEEDED, SERVER, "timeout", True),
    InternalError: (500, SC.INTERNAL, SERVER, "internal_error", False),
}
GATEWAY_SERVICE = "tuneloop.gateway.v1.GatewayService"


def test_the_table_covers_every_error_class() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, TuneloopError) and obj is not TuneloopError
    }
    assert defined == set(TABLE)


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda c: c.__name__)
def test_each_class_carries_its_statuses(cls: type[TuneloopError]) -> None:
    http_status, grpc_code, openai_type, default_code, retryable = TABLE[cls]
    error = cls("something happened")
    assert (error.http_status, error.grpc_code) == (http_status, grpc_code)
    assert (error.openai_type, error.code, error.retryable) == (
        openai_type,
        default_code,
        retryable,
    )
    assert error.message == str(error) == "something happened"


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda c: c.__name__)
def test_the_envelope_is_the_openai_error_body(cls: type[TuneloopError]) -> None:
    bare = cls("plain").envelope()
    assert bare == {
        "error": {"message": "plain", "type": TABLE[cls][2], "param": None, "code": TABLE[cls][3]}
    }
    detailed = cls("bad epochs", code="invalid_value", param="hyperparameters.n_epochs")
    assert json.loads(json.dumps(detailed.envelope())) == {
        "error": {
            "message": "bad epochs",
            "type": TABLE[cls][2],
            "param": "hyperparameters.n_epochs",
            "code": "invalid_value",
        }
    }


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda c: c.__name__)
def test_a_grpc_code_maps_back_to_its_class(cls: type[TuneloopError]) -> None:
    expected = NotImplementedYetError if cls is MethodNotAllowedError else cls
    assert errors.error_class_for_grpc(cls.grpc_code) is expected


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (SC.ALREADY_EXISTS, ConflictError),
        (SC.ABORTED, ConflictError),
        (SC.CANCELLED, ServiceUnavailableError),
        (SC.DATA_LOSS, InternalError),
        (SC.UNKNOWN, InternalError),
    ],
)
def test_other_grpc_codes_map_to_the_nearest_class(
    code: grpc.StatusCode, cls: type[TuneloopError]
) -> None:
    assert errors.error_class_for_grpc(code) is cls


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        *[(s, c) for c, (s, *_) in TABLE.items() if c not in (NotImplementedYetError,)],
        (422, InvalidRequestError),
        (418, InternalError),
        (501, InternalError),
    ],
)
def test_framework_http_statuses_map_to_classes(status: int, cls: type[TuneloopError]) -> None:
    error = errors.error_for_http_status(status, "from the framework")
    assert type(error) is cls
    assert error.message == "from the framework"


# --- over gRPC --------------------------------------------------------------------------


class FailingGateway(gateway_pb2_grpc.GatewayServiceServicer):
    """GetFile raises `file_error` (or answers when it is None); GetJobStatus has a bug.
    The method names are the generated ones."""

    def __init__(self) -> None:
        self.file_error: Exception | None = None

    async def GetFile(
        self, request: gateway_pb2.GetFileRequest, context: Any
    ) -> gateway_pb2.GetFileResponse:
        if self.file_error is not None:
            raise self.file_error
        return gateway_pb2.GetFileResponse(file_id=request.file_id, filename="a.jsonl")

    async def GetJobStatus(
        self, request: gateway_pb2.GetJobStatusRequest, context: Any
    ) -> gateway_pb2.GetJobStatusResponse:
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")


@dataclass
class Served:
    running: RunningServer
    servicer: FailingGateway
    stub: gateway_pb2_grpc.GatewayServiceStub

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.running.port}"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    servicer = FailingGateway()
    running = await start_server(
        "127.0.0.1:0",
        [lambda server: gateway_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server)],
        [GATEWAY_SERVICE],
    )
    async with open_channel(f"127.0.0.1:{running.port}") as channel:
        yield Served(running, servicer, gateway_pb2_grpc.GatewayServiceStub(channel))
    await running.stop(0)


async def test_a_successful_call_returns_the_response(served: Served) -> None:
    request = gateway_pb2.GetFileRequest(tenant_id="t", file_id="file-1")
    reply = await call(served.stub.GetFile, request, timeout_s=5)
    assert (reply.file_id, reply.filename) == ("file-1", "a.jsonl")


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("gone", param="file_id", code="file_not_found"),
        NotFoundError("No such File object: file-1"),
        InvalidRequestError("bad purpose", param="purpose"),
        AuthenticationError("Incorrect API key provided."),
        PermissionDeniedError("read-only key"),
        ConflictError("a job that is succeeded cannot become running", code="bad_transition"),
        PayloadTooLargeError("file larger than 10 bytes", param="file"),
        RateLimitError("queue full"),
        NotImplementedYetError("exports are not available here"),
        ServiceUnavailableError("inference is loading", code="model_loading"),
        DeadlineExceededError("generation took too long"),
        InternalError("disk full"),
        NotFoundError("模型不存在", param="model"),  # non-ASCII messages survive
    ],
    ids=lambda error: f"{type(error).__name__}-{error.code}",
)
async def test_a_domain_error_arrives_as_the_same_class(
    served: Served, error: TuneloopError
) -> None:
    served.servicer.file_error = error
    request = gateway_pb2.GetFileRequest(tenant_id="t", file_id="file-1")
    with pytest.raises(TuneloopError) as raised:
        await call(served.stub.GetFile, request, timeout_s=5)
    got = raised.value
    assert type(got) is type(error)
    assert (got.message, got.code, got.param) == (error.message, error.code, error.param)
    assert isinstance(got.__cause__, grpc.aio.AioRpcError)
    assert got.__cause__.code() == error.grpc_code


async def test_an_unexpected_exception_arrives_as_a_generic_internal_error(
    served: Served,
) -> None:
    request = gateway_pb2.GetJobStatusRequest(job_id="ftjob-1")
    with pytest.raises(TuneloopError) as raised:
        await call(served.stub.GetJobStatus, request, timeout_s=5)
    got = raised.value
    assert type(got) is InternalError
    assert got.code == "internal_error"
    assert got.param is None
    assert "hunter2" not in got.message
    assert "RuntimeError" not in got.message
    assert got.envelope()["error"]["type"] == "server_error"


async def test_a_server_that_is_not_there_is_service_unavailable() -> None:
    async with open_channel(f"127.0.0.1:{free_port()}") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        with pytest.raises(ServiceUnavailableError, match="service unavailable"):
            await call(stub.GetFile, gateway_pb2.GetFileRequest(), timeout_s=5)


async def test_check_health_follows_the_server(served: Served) -> None:
    assert await check_health(served.addr) is True
    assert await check_health(served.addr, service=GATEWAY_SERVICE) is True
    assert await check_health(served.addr, service="tuneloop.nothing.v1.NoService") is False

    await served.running.set_serving([GATEWAY_SERVICE], serving=False)
    assert await check_health(served.addr) is False
    assert await check_health(served.addr, service=GATEWAY_SERVICE) is False


async def test_check_health_is_false_for_a_closed_port() -> None:
    assert await check_health(f"127.0.0.1:{free_port()}", timeout_s=2) is False


def test_job_status_enum_is_the_one_the_gateway_reports() -> None:
    # GetJobStatusResponse.status is the shared JobStatus enum, not a copy of it.
    field = gateway_pb2.GetJobStatusResponse.DESCRIPTOR.fields_by_name["status"]
    assert field.enum_type is common_pb2.JobStatus.DESCRIPTOR
