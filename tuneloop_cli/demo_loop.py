"""`tuneloop demo`: the whole loop on the bundled 公文 sample with the public API:
datagen → fine-tune (n_epochs "auto") → evaluate the base and every epoch on held-out
paraphrases → side by side with votes → export the best checkpoint to GGUF Q4_K_M → a
summary saying, in plain words, whether tuning helped (issue 10). Under CI=true every step
runs on a slice of the sample (same code path, minutes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from services.gateway.registry.db import Database
from services.gateway.registry.store import Registry
from tuneloop_cli import demo_steps as steps
from tuneloop_cli.api import Api, ApiError
from tuneloop_cli.demo_summary import Summary
from tuneloop_cli.supervisor import RunFiles
from tuneloop_core.settings import CommonSettings

DEMO_TENANT = "demo"
DEMO_MODEL = "smollm2-135m"


def demo_access(common: CommonSettings) -> tuple[str, str]:
    """The running gateway's URL and a fresh API key of the demo tenant."""
    url = str(RunFiles(common.data_dir).read_state().get("gateway_url") or common.gateway_url)
    db = Database(common.database_url)
    try:
        key, _ = Registry(db).create_api_key(DEMO_TENANT, "tuneloop demo")
    finally:
        db.close()
    return url, key


def run_full_demo(out: Console, err: Console) -> int:
    """Assumes the stack is up (the caller starts it); returns the exit code."""
    common = CommonSettings()
    url, key = demo_access(common)
    scale = steps.scale_from_env()
    work = steps.work_dir()
    api = Api(url, key)
    started = time.monotonic()
    try:
        ready = api.http.get("/readyz")
        if ready.status_code != 200:
            err.print(f"[red]not ready:[/red] {ready.json()['error']['message']}")
            return 1
        train = steps.sample_slice("train.json", scale.train_examples, work)
        heldout = steps.sample_slice("heldout.json", scale.heldout_examples, work)
        datagen = steps.run_datagen(api, scale, teacher(), err)
        combined, counts = steps.training_file(api, train, datagen, work)
        tuned = steps.run_fine_tune(api, DEMO_MODEL, combined, scale, err)
        evaluation = steps.run_evaluation(api, tuned["id"], heldout, judge(), scale, err)
        best = evaluation["best_model"]
        tuned_models = [r["model"] for r in evaluation["matrix"] if not r["is_base"]]
        champion = best if best in tuned_models else tuned_models[-1]
        comparison = steps.run_comparison(api, [DEMO_MODEL, champion], heldout, scale, err)
        export = steps.run_export(api, champion, err)
        report = save_report(api, evaluation["id"], common)
    except ApiError as exc:
        err.print(f"[red]demo failed:[/red] {exc}")
        return 1
    finally:
        api.close()
    summary = Summary(
        url, key, scale, datagen, tuned, evaluation, comparison, export, report, *counts
    )
    summary.print(out, time.monotonic() - started)
    return 0 if summary.helped() or scale is not steps.FULL else 2


def teacher() -> dict[str, Any]:
    """The datagen teacher: a configured OpenAI-compatible endpoint, else the local model."""
    if model := os.environ.get("TUNELOOP_TEACHER_MODEL"):
        return {
            "model": model,
            "base_url": os.environ.get("TUNELOOP_TEACHER_BASE_URL"),
            "api_key": os.environ.get("TUNELOOP_TEACHER_API_KEY"),
        }
    return {"model": DEMO_MODEL}


def judge() -> str:
    """The LLM judge is a model the inference service serves: the base unless configured."""
    return os.environ.get("TUNELOOP_JUDGE_MODEL", DEMO_MODEL)


def save_report(api: Api, evaluation_id: str, common: CommonSettings) -> Path:
    """The HTML report, saved where a browser can open it without an API key."""
    response = api.http.get(f"/v1/evaluations/{evaluation_id}/report")
    if response.status_code != 200:
        raise ApiError(f"report: HTTP {response.status_code}")
    path = common.data_dir / "reports" / f"{evaluation_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(response.text, encoding="utf-8")
    return path
