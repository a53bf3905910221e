"""Fine-tuning jobs: validate, record, queue for a trainer worker; pause, resume, cancel.
No FastAPI here; blocking registry calls run in a thread. `to_pb` is the one step from the
API request to the contract the trainer reads (`FineTuneJobSpec`)."""

from __future__ import annotations

import logging
import re

from services.gateway.files.service import input_file
from services.gateway.fine_tuning.protocol import CreateFineTuningJobRequest, HyperparametersIn
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.registry.models import Job, Tenant
from services.gateway.registry.records import from_record
from services.gateway.registry.transitions import JobStatus
from services.gateway.served_models import find_owned_model, served_base_models
from services.gateway.state import GatewayState
from tuneloop.inference.v1 import inference_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import (
    DeadlineExceededError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from tuneloop_core.grpc.client import call
from tuneloop_core.jobspecs import fine_tune

log = logging.getLogger(__name__)
KIND = "fine_tune"
JOB_KIND = JobKind(
    token=KIND,
    object="fine_tuning.job",
    noun="fine-tuning job",
    param="fine_tuning_job_id",
    spec_type=trainer_pb2.FineTuneJobSpec,
)
SUFFIX = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RECIPE = re.compile(r"^[a-z0-9_-]{1,32}$")
RECIPES_TIMEOUT_S = 5.0  # asking the trainer which recipes it has


def _hyperparameters(req: CreateFineTuningJobRequest) -> trainer_pb2.Hyperparameters:
    given: HyperparametersIn = req.hyperparameters or HyperparametersIn()
    settings = req.method.settings() if req.method else None
    if settings and settings.hyperparameters:
        given = settings.hyperparameters  # OpenAI: the method's take precedence
    return fine_tune.hyperparameters(
        n_epochs=None if given.n_epochs == "auto" else given.n_epochs,
        batch_size=None if given.batch_size == "auto" else given.batch_size,
        learning_rate_multiplier=None
        if given.learning_rate_multiplier == "auto"
        else given.learning_rate_multiplier,
        beta=None if given.beta == "auto" else given.beta,
    )


def _method(req: CreateFineTuningJobRequest) -> trainer_pb2.MethodSettings:
    out = trainer_pb2.MethodSettings()
    supervised = req.method.settings() if req.method else None
    if supervised is None:
        return out
    for field in ("lora_rank", "lora_alpha", "lora_dropout", "use_dora", "quantization", "full"):
        value = getattr(supervised, field)
        if value is not None:
            setattr(out, field, value)
    if supervised.max_seq_length is not None:
        out.max_seq_length = supervised.max_seq_length
    out.lora_targets.extend(supervised.lora_targets or [])
    return out


async def _check_base_model(state: GatewayState, name: str, tenant: Tenant) -> None:
    """Only a base model the inference service serves can be tuned: its adapters must be
    servable afterwards."""
    bases = await served_base_models(state, tenant, "check the base model")
    if name not in bases:
        raise InvalidRequestError(
            f"Model '{name}' is not a base model that can be fine-tuned here; "
            f"available: {', '.join(bases) or 'none (run `tuneloop models pull smollm2-135m`)'}",
            param="model",
            code="model_not_available",
        )


async def _check_file(state: GatewayState, tenant: Tenant, file_id: str, param: str) -> None:
    """The file exists, is the tenant's and was uploaded for fine-tuning; the trainer
    resolves it by id when it takes the job."""
    file = await input_file(state, tenant, file_id, param)
    if file.purpose != "fine-tune":
        raise InvalidRequestError(
            f"File '{file_id}' has purpose '{file.purpose}'; upload it with purpose 'fine-tune'",
            param=param,
            code="invalid_file_purpose",
        )


def to_pb(req: CreateFineTuningJobRequest, tenant: Tenant) -> trainer_pb2.FineTuneJobSpec:
    """The request as the trainer's contract, checked against its bounds; "auto" stays
    unset."""
    if req.suffix is not None and not SUFFIX.match(req.suffix):
        raise InvalidRequestError(
            "suffix may use letters, digits, '.', '_' and '-'", param="suffix"
        )
    if req.recipe is not None and not RECIPE.match(req.recipe):
        raise InvalidRequestError("unknown recipe name", param="recipe")
    spec = trainer_pb2.FineTuneJobSpec(
        base_model=req.model,
        training_file=req.training_file,
        validation_file=req.validation_file or "",
        suffix=req.suffix or "",
        tenant_name=tenant.name,
        hyperparameters=_hyperparameters(req),
        method=_method(req),
        recipe=req.recipe or "",
        seed=req.seed if req.seed is not None else fine_tune.DEFAULT_SEED,
        method_type="dpo" if req.method and req.method.type == "dpo" else "",
    )
    fine_tune.check(spec)
    return spec


async def _start_from(
    state: GatewayState, tenant: Tenant, spec: trainer_pb2.FineTuneJobSpec
) -> None:
    """A `model` that is one of the tenant's fine-tuned models (an `ft:` name or a
    checkpoint's) is where the job starts: its base is tuned further from its adapter, the
    way OpenAI runs SFT then DPO."""
    try:
        info = await find_owned_model(state, tenant, spec.base_model)
    except NotFoundError:
        return  # not a model of the tenant's: _check_base_model says what is available
    if info.kind != inference_pb2.MODEL_KIND_ADAPTER:
        return
    spec.start_model, spec.start_adapter_path = spec.base_model, info.path
    spec.base_model = info.parent


async def create(state: GatewayState, tenant: Tenant, req: CreateFineTuningJobRequest) -> Job:
    spec = to_pb(req, tenant)
    await _check_file(state, tenant, req.training_file, "training_file")
    if req.validation_file:
        await _check_file(state, tenant, req.validation_file, "validation_file")
    await _start_from(state, tenant, spec)
    await _check_base_model(state, spec.base_model, tenant)
    if req.recipe is not None:
        await _check_recipe(state, req.recipe)
    return await jobs.submit(state, tenant, JOB_KIND, spec, status=JobStatus.VALIDATING_FILES)


async def _check_recipe(state: GatewayState, name: str) -> None:
    """The trainer's recipes are the ones there are: an unknown name is refused now, with
    the list. With no trainer reachable the job is queued anyway, and the trainer that
    takes it fails it with the same message if the name is still unknown."""
    try:
        reply = await call(
            state.clients.trainer.ListRecipes, trainer_pb2.ListRecipesRequest(), RECIPES_TIMEOUT_S
        )
    except (ServiceUnavailableError, DeadlineExceededError):
        log.info("no trainer to list recipes; recipe %r is checked when the job is taken", name)
        return
    names = sorted(recipe.name for recipe in reply.recipes)
    if names and name not in names:
        raise InvalidRequestError(
            f"unknown recipe '{name}'; available: {', '.join(names)}", param="recipe"
        )


async def get(state: GatewayState, tenant: Tenant, job_id: str) -> Job:
    return await jobs.get(state, tenant, JOB_KIND, job_id)


async def cancel(state: GatewayState, tenant: Tenant, job_id: str) -> Job:
    return await jobs.cancel(state, tenant, JOB_KIND, job_id)


async def pause(state: GatewayState, tenant: Tenant, job_id: str) -> Job:
    """The worker notices at its next step, saves its state and lets go of the job."""
    await get(state, tenant, job_id)
    return await state.registry.transition_job(job_id, JobStatus.PAUSED)


async def resume(state: GatewayState, tenant: Tenant, job_id: str) -> Job:
    """Queue the job again; a worker continues from the state saved at the pause."""
    await get(state, tenant, job_id)
    job = await state.registry.transition_job(job_id, JobStatus.QUEUED)
    await jobs.queue(state, job, from_record(job.spec, trainer_pb2.FineTuneJobSpec))
    return job
