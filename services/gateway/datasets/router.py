"""HTTP route of `/v1/datasets/validate`."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.datasets import service
from services.gateway.datasets.protocol import DatasetValidation, ValidateDatasetRequest
from services.gateway.deps import CurrentTenant, StateDep

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("/validate", summary="Validate an uploaded dataset file")
async def validate_dataset(
    body: ValidateDatasetRequest, state: StateDep, tenant: CurrentTenant
) -> DatasetValidation:
    """Detected format, every bad record with its line and reason, counts, duplicates and
    length statistics — the checks a fine-tuning job runs before training."""
    return await service.validate(state, tenant, body)
