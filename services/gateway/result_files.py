"""Files a finished job produced (e.g. the trainer's step-metrics CSV), registered as
OpenAI file objects of the job's tenant so `result_files` can name them by id."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from services.gateway.ids import new_id
from services.gateway.registry.models import File
from services.gateway.registry.store import Registry
from tuneloop_core.artifacts import ArtifactStore

log = logging.getLogger(__name__)


def register_result_files(
    registry: Registry, artifacts: ArtifactStore, tenant_id: str, result: dict[str, Any]
) -> dict[str, Any]:
    """`result["files"]` (paths relative to the data directory) → `result["result_files"]`
    (file ids). A listed file that is missing is logged and skipped."""
    listed = result.pop("files", None) or []
    ids: list[str] = list(result.get("result_files", []))
    data_dir = artifacts.root.parent
    for entry in listed:
        path = (data_dir / str(entry.get("path", ""))).resolve()
        if not path.is_file() or not path.is_relative_to(artifacts.root):
            log.warning("result file %s is missing or outside the artifact store", path)
            continue
        content = path.read_bytes()
        file = File(
            id=new_id("file"),
            tenant_id=tenant_id,
            filename=str(entry.get("filename") or Path(path).name),
            purpose=str(entry.get("purpose") or "fine-tune-results"),
            bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            path=str(path.relative_to(artifacts.root)),
        )
        registry.add_file(file)
        ids.append(file.id)
    result["result_files"] = ids
    return result
