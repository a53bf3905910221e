"""HTTP routes of `/v1/exports`: create, plus the list, get, cancel and events every job
endpoint has. The GGUF and the Modelfile are files of the tenant once the job succeeds
(`result.result_files`, served by `GET /v1/files/{id}/content`)."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.exports import service
from services.gateway.exports.protocol import CreateExportRequest
from services.gateway.jobs import service as jobs
from services.gateway.jobs.protocol import JobObject
from services.gateway.jobs.router import add_job_routes

router = APIRouter(prefix="/exports", tags=["exports"])


@router.post("", summary="Export a model to GGUF (and Ollama)")
async def create_export(
    body: CreateExportRequest, state: StateDep, tenant: CurrentTenant
) -> JobObject:
    job = await service.create_export(
        state,
        tenant,
        body.model,
        body.quantization,
        body.ollama_model,
        system=body.system,
        prompts=body.prompts,
        validation_file=body.validation_file,
        pre_tokenizer=body.pre_tokenizer,
    )
    return jobs.job_view(service.KIND, job)


add_job_routes(router, service.KIND)
