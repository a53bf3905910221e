"""The steps of `tuneloop demo`, each one a user's calls to the public API."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tuneloop_cli.api import FINISHED, Api, ApiError

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "gongwen"


@dataclass(frozen=True)
class DemoScale:
    """How much of the sample each step uses. The full demo uses all of it; CI a slice
    that runs every step of the same code path in a few minutes."""

    name: str
    train_examples: int | None  # None: all 336 reference pairs
    heldout_examples: int | None  # None: all 68 held-out paraphrases
    datagen_documents: int
    datagen_max_chunks: int | None  # None: every chunk of the documents
    n_epochs: int | None  # None: "auto" (the demo recipe caps it at 3)
    eval_max_tokens: int
    compare_questions: int


FULL = DemoScale("full", None, None, 5, None, None, 96, 3)
CI = DemoScale("ci", 48, 6, 1, 1, 1, 24, 2)


def scale_from_env() -> DemoScale:
    return CI if os.environ.get("CI", "").lower() in ("1", "true", "yes") else FULL


def sample_slice(name: str, limit: int | None, work: Path) -> Path:
    """The sample file, or its first `limit` records (spread over the facts) in `work`."""
    source = SAMPLE / name
    if limit is None:
        return source
    records = json.loads(source.read_text(encoding="utf-8"))
    step = max(1, len(records) // limit)
    sliced = records[::step][:limit]
    target = work / name
    target.write_text(json.dumps(sliced, ensure_ascii=False, indent=1), encoding="utf-8")
    return target


def run_datagen(
    api: Api, scale: DemoScale, teacher: dict[str, Any], err: Console
) -> dict[str, Any]:
    """Generate Q&A pairs from the sample's documents; the teacher's answers are held to a
    grammar, so even the bundled 135M model writes well-formed pairs. A served teacher's
    pairs are scored by likelihood (the 135M model rates every pair alike as a judge)."""
    documents = sorted((SAMPLE / "docs").glob("*.md"))[: scale.datagen_documents]
    file_ids = [api.upload(path, "datagen") for path in documents]
    err.print(f"[bold]1. Datagen[/bold]: {len(file_ids)} document(s) → Q&A pairs by {teacher}")
    job = api.post(
        "/v1/datagen/jobs",
        {
            "file_ids": file_ids,
            "teacher": teacher,
            "max_chunks": scale.datagen_max_chunks,
            "language": "zh-TW",
            "concurrency": 16,  # teacher calls in flight: the engine batches them
        },
    )
    return api.wait_job(f"/v1/datagen/jobs/{job['id']}", err, "datagen")


def training_file(
    api: Api, reference: Path, datagen: dict[str, Any], work: Path
) -> tuple[Path, tuple[int, int]]:
    """The reference pairs plus the generated train pairs (both Alpaca), in one file, and
    how many of each it holds."""
    records = json.loads(reference.read_text(encoding="utf-8"))
    generated = generated_pairs(api, datagen)
    target = work / "train-with-generated.json"
    target.write_text(
        json.dumps([*records, *generated], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return target, (len(records), len(generated))


def generated_pairs(api: Api, datagen: dict[str, Any]) -> list[dict[str, Any]]:
    """The datagen job's kept train pairs (its first result file, Alpaca JSON)."""
    files = (datagen.get("result") or {}).get("result_files") or []
    if datagen.get("status") != "succeeded" or not files:
        return []
    response = api.http.get(f"/v1/files/{files[0]}/content")
    if response.status_code != 200:
        raise ApiError(f"generated pairs: HTTP {response.status_code}")
    pairs: list[dict[str, Any]] = response.json()
    return pairs


def run_fine_tune(
    api: Api, base: str, train_file: Path, scale: DemoScale, err: Console
) -> dict[str, Any]:
    """Fine-tune the base on the reference pairs; shows the loss as training goes."""
    file_id = api.upload(train_file, "fine-tune")
    hyper: dict[str, Any] = {"n_epochs": scale.n_epochs or "auto"}
    job = api.post(
        "/v1/fine_tuning/jobs",
        {
            "model": base,
            "training_file": file_id,
            "suffix": "gongwen",
            "recipe": "demo",
            "hyperparameters": hyper,
        },
    )
    err.print(f"[bold]2. Fine-tune[/bold] {base} on {train_file.name} (job {job['id']})")
    return _wait_fine_tune(api, job["id"], err)


def _wait_fine_tune(api: Api, job_id: str, err: Console, poll_s: float = 3.0) -> dict[str, Any]:
    seen: set[str] = set()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("training", total=None)
        while True:
            events = api.get(f"/v1/fine_tuning/jobs/{job_id}/events", limit=100)["data"]
            for event in reversed(events):  # the API lists newest first
                if event["id"] in seen:
                    continue
                seen.add(event["id"])
                data = event.get("data") or {}
                if event.get("type") == "metrics":
                    loss = data.get("train_loss")
                    shown = (
                        f"epoch {float(data.get('epoch', 0)):.2f}, loss {loss:.3f}" if loss else ""
                    )
                    bar.update(task, description=f"training: step {data.get('step')} {shown}")
                else:
                    err.print(f"  {event['message']}", soft_wrap=True, markup=False)
            job: dict[str, Any] = api.get(f"/v1/fine_tuning/jobs/{job_id}")
            if job["status"] in FINISHED:
                break
            time.sleep(poll_s)
    if job["status"] != "succeeded":
        raise ApiError(
            f"fine-tuning ended {job['status']}: {(job.get('error') or {}).get('message')}"
        )
    return job


def run_evaluation(
    api: Api, job_id: str, heldout: Path, judge: str, scale: DemoScale, err: Console
) -> dict[str, Any]:
    """Base and every epoch's checkpoint on the held-out paraphrases."""
    file_id = api.upload(heldout, "evals")
    err.print(f"[bold]3. Evaluate[/bold] the base and every epoch on {heldout.name}")
    job = api.post(
        "/v1/evaluations",
        {
            "fine_tuning_job": job_id,
            "dataset_file": file_id,
            "metrics": ["rouge-l", "bleu-4", "rouge-1", "exact_match"],
            "max_tokens": scale.eval_max_tokens,
            "judge_model": judge,
            "language": "zh",
        },
    )
    api.wait_job(f"/v1/evaluations/{job['id']}", err, "evaluation")
    results: dict[str, Any] = api.get(f"/v1/evaluations/{job['id']}/results")
    results["id"] = job["id"]
    return results


def run_comparison(
    api: Api, models: list[str], heldout: Path, scale: DemoScale, err: Console
) -> dict[str, Any]:
    """A few held-out questions side by side; the demo votes for the tuned answers."""
    records = json.loads(heldout.read_text(encoding="utf-8"))[: scale.compare_questions]
    err.print(f"[bold]4. Side by side[/bold]: {len(records)} questions, {' vs '.join(models)}")
    job = api.post(
        "/v1/comparisons",
        {
            "models": models,
            "questions": [r["instruction"] for r in records],
            "max_tokens": scale.eval_max_tokens,
            "temperature": 0,
        },
    )
    api.wait_job(f"/v1/comparisons/{job['id']}", err, "comparison")
    for index in range(len(records)):
        api.post(
            f"/v1/comparisons/{job['id']}/votes", {"question_index": index, "model": models[-1]}
        )
    comparison: dict[str, Any] = api.get(f"/v1/comparisons/{job['id']}")
    return comparison


def run_export(api: Api, model: str, err: Console) -> dict[str, Any]:
    """The best checkpoint merged, converted to GGUF and quantised: `auto`, the smallest
    type whose answers to the held-out questions stay within the drift budget."""
    err.print(f"[bold]5. Export[/bold] {model} → GGUF, the smallest type within the drift budget")
    job = api.post("/v1/exports", {"model": model})
    return api.wait_job(f"/v1/exports/{job['id']}", err, "export")


def work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tuneloop-demo-"))
