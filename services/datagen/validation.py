"""ValidateDataset: any accepted dataset file → detected format and kind (conversations or
preference pairs), every bad record, counts, duplicates and length statistics (the shared
dataset library does the reading)."""

from __future__ import annotations

from pathlib import Path

from tuneloop.datagen.v1 import datagen_pb2
from tuneloop_core.datasets import NATIVE_SCHEMAS, DatasetFormat, validate_dataset
from tuneloop_core.errors import InvalidRequestError, NotFoundError


def validate_file(
    data_dir: Path, request: datagen_pb2.ValidateDatasetRequest
) -> datagen_pb2.ValidateDatasetResponse:
    """Validate `request.path` (relative to the data directory)."""
    path = (data_dir / request.path).resolve()
    if not path.is_relative_to(data_dir.resolve()) or not path.is_file():
        raise NotFoundError(f"no dataset file at {request.path!r}", param="file_id")
    schema = None
    if request.format:
        try:
            schema = NATIVE_SCHEMAS[DatasetFormat(request.format)]
        except ValueError:
            known = ", ".join(f.value for f in DatasetFormat)
            raise InvalidRequestError(
                f"unknown format {request.format!r}; known: {known}", param="format"
            ) from None
    report = validate_dataset(path, schema=schema)
    reply = datagen_pb2.ValidateDatasetResponse(
        format=report.format.value if report.format else "",
        kind=report.kind.value if report.kind else "",
        n_records=report.records,
        n_valid=report.valid,
        n_duplicates=report.duplicates,
        container=report.container.value if report.container else "",
        error=report.error or "",
        errors=[
            datagen_pb2.LineError(
                line=issue.line, record=issue.record, code=issue.code, reason=issue.message
            )
            for issue in report.issues
        ],
    )
    if report.chars is not None:
        stats = report.chars
        reply.chars.CopyFrom(
            datagen_pb2.LengthStats(
                min=stats.min, mean=stats.mean, p50=stats.p50, p95=stats.p95, max=stats.max
            )
        )
    return reply
