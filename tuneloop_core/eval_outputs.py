"""The output items of an eval run: the evaluator writes them, the gateway pages through
them (`/v1/evals/{id}/runs/{run}/output_items`). One JSON object per line, in item order:

    {"index": 0, "item": {...}, "sample": {...}, "results": [...], "status": "pass"}

`sample` is OpenAI's shape (input, output, finish_reason, model, usage, error, sampling);
each result is {name, type, score, passed, error, metadata}. The gateway adds the ids."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore

STATUSES = ("pass", "fail", "error")


def write_output_items(store: ArtifactStore, run_id: str, items: Iterable[dict[str, Any]]) -> str:
    """Store the items atomically; returns their path relative to the store."""
    relpath = layout.eval_output_items(run_id)
    body = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    store.write(relpath, io.BytesIO(body.encode()))
    return relpath


def read_output_items(store: ArtifactStore, relpath: str) -> list[dict[str, Any]]:
    with store.open(relpath) as handle:
        return [json.loads(line) for line in handle if line.strip()]
