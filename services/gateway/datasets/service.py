"""Dataset validation: the tenant's file is checked by the datagen service."""

from __future__ import annotations

from services.gateway.datasets.protocol import (
    DatasetValidation,
    LengthStats,
    RecordError,
    ValidateDatasetRequest,
)
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop_core.errors import InvalidRequestError, NotFoundError
from tuneloop_core.grpc.client import call


async def validate(
    state: GatewayState, tenant: Tenant, req: ValidateDatasetRequest
) -> DatasetValidation:
    try:
        file = await state.registry.get_file(tenant.id, req.file_id)
    except NotFoundError:
        raise InvalidRequestError(
            f"File '{req.file_id}' does not exist", param="file_id", code="file_not_found"
        ) from None
    reply = await call(
        state.clients.datagen.ValidateDataset,
        datagen_pb2.ValidateDatasetRequest(path=f"artifacts/{file.path}", format=req.format or ""),
        state.settings.rpc_timeout_s,
    )
    chars = reply.chars if reply.HasField("chars") else None
    return DatasetValidation(
        file_id=file.id,
        valid=not reply.error and not reply.errors and reply.n_valid > 0,
        format=reply.format or None,
        kind=reply.kind or None,
        container=reply.container or None,
        n_records=reply.n_records,
        n_valid=reply.n_valid,
        n_duplicates=reply.n_duplicates,
        errors=[
            RecordError(line=e.line, record=e.record, code=e.code, reason=e.reason)
            for e in reply.errors
        ],
        error=reply.error or None,
        chars=LengthStats(
            min=chars.min, mean=chars.mean, p50=chars.p50, p95=chars.p95, max=chars.max
        )
        if chars is not None
        else None,
    )
