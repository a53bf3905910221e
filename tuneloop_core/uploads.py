"""A job's input files, resolved the one way every job kind does it: by file id, asking the
gateway (the owner of the registry) over GetFile, which also checks that the file is the
job's tenant's. Its content lies in the shared artifact store; the registry knows where (an
upload, or a file a job produced and registered, such as datagen's train set)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tuneloop.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.grpc.client import call


@dataclass(frozen=True)
class InputFile:
    file_id: str
    filename: str  # the name it was uploaded under
    bytes: int
    path: Path  # where its content is, on this host


async def resolve(
    gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
    store: ArtifactStore,
    tenant_id: str,
    file_id: str,
) -> InputFile:
    """The file `file_id` of `tenant_id`; NotFoundError when there is none (deleted since
    the job was created, or another tenant's)."""
    file = await call(
        gateway.GetFile, gateway_pb2.GetFileRequest(tenant_id=tenant_id, file_id=file_id)
    )
    return InputFile(file.file_id, file.filename, file.bytes, store.path(file.path))
