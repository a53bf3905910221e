"""Where every job kind's inputs and outputs live: the one module that knows the layout of
the artifact store (`<data_dir>/artifacts`, shared by every service). Paths are relative to
the store root unless a function says otherwise; nobody else builds them.

    files/<tenant>/<file-id>                  uploads (the gateway's files API)
    jobs/<ftjob>/                             a fine-tune: checkpoints, step_metrics.csv
    exports/<export-id>/                      an export: the GGUF, Modelfile, drift report
    datagen/<dgjob>/                          a datagen job's datasets and pair list
    evaluations/<eval-id>/                    results.json and report.html
    comparisons/<cmp-id>/answers.json         a comparison's answer matrix
    batches/<batch-id>/                       a batch's output.jsonl and errors.jsonl
    adapters/<tenant>/<name>/                 an imported adapter (PEFT, validated)
    adapters/.staging/                        archives being unpacked and checked
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

STORE = "artifacts"  # the store's folder in the data directory
STEP_METRICS = "step_metrics.csv"  # in a fine-tune's folder


def store_root(data_dir: Path) -> Path:
    return data_dir / STORE


def in_data_dir(relpath: str | PurePosixPath) -> str:
    """A store path as a path relative to the data directory (what checkpoints, adapters
    and the files a job lists are given as)."""
    return str(PurePosixPath(STORE) / relpath)


def upload(tenant_id: str, file_id: str) -> str:
    return f"files/{tenant_id}/{file_id}"


def fine_tune_dir(job_id: str) -> str:
    return f"jobs/{job_id}"


def step_metrics(job_id: str) -> str:
    """A fine-tune's per-step loss and per-epoch validation (the report's curves)."""
    return f"{fine_tune_dir(job_id)}/{STEP_METRICS}"


def export_dir(export_id: str) -> str:
    return f"exports/{export_id}"


def datagen_dir(job_id: str) -> str:
    return f"datagen/{job_id}"


def evaluation_results(evaluation_id: str) -> str:
    return f"evaluations/{evaluation_id}/results.json"


def evaluation_report(evaluation_id: str) -> str:
    return f"evaluations/{evaluation_id}/report.html"


def comparison_answers(comparison_id: str) -> str:
    return f"comparisons/{comparison_id}/answers.json"


def eval_output_items(run_id: str) -> str:
    return f"evals/runs/{run_id}/output_items.jsonl"


def eval_report(run_id: str) -> str:
    return f"evals/runs/{run_id}/report.html"


def batch_output(batch_id: str) -> str:
    """A batch's answered requests (OpenAI's output file), appended chunk by chunk."""
    return f"batches/{batch_id}/output.jsonl"


def batch_errors(batch_id: str) -> str:
    """A batch's failed requests and malformed lines (OpenAI's error file)."""
    return f"batches/{batch_id}/errors.jsonl"


def imported_adapter(tenant_id: str, name: str) -> str:
    """An adapter trained elsewhere, kept once its archive passed the checks."""
    return f"adapters/{tenant_id}/{name}"


def adapter_staging() -> str:
    """Where an adapter archive is unpacked and checked before it is kept (in the store, so
    the move into place is a rename)."""
    return "adapters/.staging"
