"""Reviewing a datagen job's pairs: list them with scores and sources, edit, confirm or
drop one, and build a dataset file from what was kept (the fine-tuning API takes it as is).

The pairs are the job's `pairs.jsonl` result file; a person's changes are rows of the
registry's `datagen_pair_reviews`, laid over the file when read.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from services.gateway.datagen.protocol import (
    PairList,
    PairObject,
    PairUpdate,
    ReviewedDatasetRequest,
)
from services.gateway.datagen.service import KIND
from services.gateway.files import service as files
from services.gateway.files.protocol import FileObject
from services.gateway.registry.models import DatagenPairReview, Job, Tenant
from services.gateway.registry.transitions import JobStatus
from services.gateway.state import GatewayState
from tuneloop_core.datasets import Conversation, DatasetFormat, Role, Turn, write_dataset
from tuneloop_core.errors import ConflictError, InvalidRequestError, NotFoundError

PAIRS_SUFFIX = "-pairs.jsonl"
EXTENSIONS = {"alpaca": "json", "sharegpt": "json", "openai": "jsonl"}


async def _finished_job(state: GatewayState, tenant: Tenant, job_id: str) -> Job:
    try:
        job = await state.registry.get_job(job_id, tenant.id)
    except NotFoundError:
        raise NotFoundError(f"No such datagen job: {job_id}", param="job_id") from None
    if job.kind != KIND.token:
        raise NotFoundError(f"No such datagen job: {job_id}", param="job_id")
    if job.status != JobStatus.SUCCEEDED.value:
        raise ConflictError(
            f"Datagen job {job_id} is {job.status}; its pairs can be reviewed once it succeeds",
            param="job_id",
            code="job_not_finished",
        )
    return job


def _read_pairs(state: GatewayState, path: str) -> list[dict[str, Any]]:
    with state.artifacts.open(path) as handle:
        text = handle.read().decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def _generated(state: GatewayState, tenant: Tenant, job: Job) -> list[dict[str, Any]]:
    """The pairs as the job wrote them, in file order."""
    for file_id in (job.result or {}).get("result_files") or []:
        file = await state.registry.get_file(tenant.id, str(file_id))
        if file.filename.endswith(PAIRS_SUFFIX):
            return await asyncio.to_thread(_read_pairs, state, file.path)
    raise NotFoundError(f"Datagen job {job.id} has no pairs file", param="job_id")


def _view(pair: dict[str, Any], review: DatagenPairReview | None) -> PairObject:
    edited_q = review.question if review else None
    edited_a = review.answer if review else None
    return PairObject(
        id=str(pair["id"]),
        question=edited_q or str(pair["question"]),
        answer=edited_a or str(pair["answer"]),
        score=pair.get("score"),
        split=pair.get("split", "train"),
        document=str(pair.get("document", "")),
        page=pair.get("page"),
        heading_path=list(pair.get("heading_path") or []),
        refined=bool(pair.get("refined")),
        edited=bool(edited_q or edited_a),
        confirmed=bool(review.confirmed) if review else bool(pair.get("confirmed")),
        dropped=bool(review.dropped) if review else False,
    )


async def _reviewed(state: GatewayState, tenant: Tenant, job_id: str) -> list[PairObject]:
    job = await _finished_job(state, tenant, job_id)
    reviews = await state.registry.reviews.of_job(job.id)
    generated = await _generated(state, tenant, job)
    return [_view(pair, reviews.get(str(pair["id"]))) for pair in generated]


async def list_pairs(
    state: GatewayState,
    tenant: Tenant,
    job_id: str,
    split: str | None = None,
    confirmed: bool | None = None,
    dropped: bool | None = None,
) -> PairList:
    pairs = await _reviewed(state, tenant, job_id)
    counts = {
        "total": len(pairs),
        "confirmed": sum(p.confirmed for p in pairs),
        "dropped": sum(p.dropped for p in pairs),
        "edited": sum(p.edited for p in pairs),
    }
    shown = [
        p
        for p in pairs
        if (split is None or p.split == split)
        and (confirmed is None or p.confirmed == confirmed)
        and (dropped is None or p.dropped == dropped)
    ]
    return PairList(data=shown, counts=counts)


async def update_pair(
    state: GatewayState, tenant: Tenant, job_id: str, pair_id: str, update: PairUpdate
) -> PairObject:
    job = await _finished_job(state, tenant, job_id)
    generated = await _generated(state, tenant, job)
    pair = next((p for p in generated if str(p["id"]) == pair_id), None)
    if pair is None:
        raise NotFoundError(f"Datagen job {job_id} has no pair {pair_id}", param="pair_id")
    changes = update.model_dump(exclude_unset=True)
    review = await state.registry.reviews.save(job.id, pair_id, changes)
    return _view(pair, review)


def _conversation(pair: PairObject) -> Conversation:
    return Conversation(turns=(Turn(Role.USER, pair.question), Turn(Role.ASSISTANT, pair.answer)))


def _dataset_bytes(pairs: list[PairObject], req: ReviewedDatasetRequest) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"dataset.{EXTENSIONS[req.format]}"
        write_dataset((_conversation(p) for p in pairs), path, DatasetFormat(req.format))
        return path.read_bytes()


async def create_dataset(
    state: GatewayState, tenant: Tenant, job_id: str, req: ReviewedDatasetRequest
) -> FileObject:
    """The kept pairs (edits applied) as a new file with purpose `fine-tune`."""
    pairs = [
        p
        for p in await _reviewed(state, tenant, job_id)
        if not p.dropped
        and (req.split == "all" or p.split == req.split)
        and (p.confirmed or not req.confirmed_only)
    ]
    if not pairs:
        which = "confirmed " if req.confirmed_only else ""
        raise InvalidRequestError(
            f"No {which}pairs left in split '{req.split}' of datagen job {job_id}",
            param="split",
            code="empty_dataset",
        )
    content = await asyncio.to_thread(_dataset_bytes, pairs, req)
    suffix = "-confirmed" if req.confirmed_only else ""
    name = f"{job_id}-reviewed-{req.split}{suffix}.{EXTENSIONS[req.format]}"
    return await files.upload(state, tenant, io.BytesIO(content), name, "fine-tune")
