"""GatewayService: what workers ask the owner of the registry."""

from __future__ import annotations

from typing import Any

import grpc

from services.gateway.registry.aio import AsyncRegistry
from services.gateway.registry.transitions import JobStatus, status_to_pb
from tuneloop.gateway.v1 import gateway_pb2, gateway_pb2_grpc


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, registry: AsyncRegistry):
        self.registry = registry

    async def GetFile(
        self, request: gateway_pb2.GetFileRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> gateway_pb2.GetFileResponse:
        file = await self.registry.get_file(request.tenant_id, request.file_id)
        return gateway_pb2.GetFileResponse(
            file_id=file.id,
            filename=file.filename,
            purpose=file.purpose,
            bytes=file.bytes,
            sha256=file.sha256,
            path=file.path,
        )

    async def GetJobStatus(
        self, request: gateway_pb2.GetJobStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> gateway_pb2.GetJobStatusResponse:
        job = await self.registry.get_job(request.job_id)
        return gateway_pb2.GetJobStatusResponse(
            job_id=job.id, status=status_to_pb(JobStatus(job.status))
        )
