"""A finished run → files: the train and evaluation sets in the asked format, the
LLaMA-Factory `dataset_info.json` naming both, and `pairs.jsonl` with every kept pair's
score, source and `confirmed` flag for review."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from services.datagen.generation.pipeline import PipelineResult
from services.datagen.generation.quality import Pair
from services.datagen.generation.spec import DatagenSpec
from tuneloop_core.datasets import Conversation, DatasetFormat, Role, Turn, write_dataset

EXTENSIONS = {"alpaca": "json", "sharegpt": "json", "openai": "jsonl"}


def _conversation(pair: Pair) -> Conversation:
    return Conversation(turns=(Turn(Role.USER, pair.question), Turn(Role.ASSISTANT, pair.answer)))


def write_outputs(job_id: str, spec: DatagenSpec, result: PipelineResult, out: Path) -> list[Path]:
    """Write the files into `out`; returns them in the order: train, eval (if any),
    dataset_info.json, pairs.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    fmt = DatasetFormat(spec.export_format)
    ext = EXTENSIONS[spec.export_format]
    info = {}
    files = []
    for name, pairs in (("train", result.train), ("eval", result.evaluation)):
        if not pairs and name == "eval":
            continue
        path = out / f"{job_id}-{name}.{ext}"
        info[f"{job_id}_{name}"] = write_dataset((_conversation(p) for p in pairs), path, fmt)
        files.append(path)
    info_path = out / "dataset_info.json"
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    pairs_path = out / f"{job_id}-pairs.jsonl"
    with pairs_path.open("w", encoding="utf-8") as handle:
        for pair in [*result.train, *result.evaluation]:
            handle.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
    return [*files, info_path, pairs_path]
