"""Datagen jobs: check the documents and the teacher, then queue the job."""

from __future__ import annotations

from services.gateway.datagen.protocol import CreateDatagenJobRequest, TeacherIn
from services.gateway.files.service import input_file
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.registry.models import Job, Tenant
from services.gateway.served_models import require_served, served_base_models
from services.gateway.state import GatewayState
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop_core.errors import InvalidRequestError

KIND = JobKind(
    token="datagen",
    object="datagen.job",
    noun="datagen job",
    param="job_id",
    spec_type=datagen_pb2.DatagenJobSpec,
)
DOCUMENT_PURPOSES = frozenset({"datagen", "knowledge", "user_data", "assistants"})


async def _check_files(state: GatewayState, tenant: Tenant, file_ids: list[str]) -> None:
    for file_id in file_ids:
        file = await input_file(state, tenant, file_id, "file_ids")
        if file.purpose not in DOCUMENT_PURPOSES:
            raise InvalidRequestError(
                f"File '{file_id}' has purpose '{file.purpose}'; upload documents with "
                "purpose 'datagen'",
                param="file_ids",
                code="invalid_file_purpose",
            )


async def create(
    state: GatewayState, tenant: Tenant, api_key: str, req: CreateDatagenJobRequest
) -> Job:
    if len(set(req.file_ids)) != len(req.file_ids):
        raise InvalidRequestError("a file is listed twice", param="file_ids")
    await _check_files(state, tenant, req.file_ids)
    if req.teacher is None:
        bases = await served_base_models(state, tenant)
        if not bases:
            raise InvalidRequestError("no base model is served to teach", param="teacher")
        req = req.model_copy(update={"teacher": TeacherIn(model=bases[0])})
    assert req.teacher is not None
    if req.teacher.base_url is None:
        # The gateway itself teaches: the worker calls it with the caller's key, so the
        # teacher sees exactly the models this tenant may use. Views never show the key.
        await require_served(state, tenant, req.teacher.model, "teacher.model")
    return await jobs.submit(state, tenant, KIND, req.to_pb(api_key))
