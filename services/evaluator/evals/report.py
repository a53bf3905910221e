"""An eval run's report: one self-contained HTML page with the pass rate of each criterion
and every item's sample and grades (the first SHOWN_ITEMS; the output items hold them all)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jinja2

from tuneloop.evaluator.v1 import evals_pb2
from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore

SHOWN_ITEMS = 200
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_report(
    run_id: str,
    spec: evals_pb2.EvalRunJobSpec,
    result: evals_pb2.EvalRunResult,
    outputs: list[dict[str, Any]],
) -> str:
    source = spec.WhichOneof("source")
    return _ENV.get_template("report.html.j2").render(
        run_id=run_id,
        name=spec.name,
        eval_id=spec.eval_id,
        model=spec.completions.model if source == "completions" else "",
        result=result,
        criteria=[(c, c.WhichOneof("kind")) for c in spec.testing_criteria],
        outputs=outputs[:SHOWN_ITEMS],
        hidden=max(0, len(outputs) - SHOWN_ITEMS),
    )


def write_report(
    store: ArtifactStore,
    run_id: str,
    spec: evals_pb2.EvalRunJobSpec,
    result: evals_pb2.EvalRunResult,
    outputs: list[dict[str, Any]],
) -> str:
    """Store the report atomically; returns its path relative to the store."""
    relpath = layout.eval_report(run_id)
    html = render_report(run_id, spec, result, outputs)
    store.write(relpath, io.BytesIO(html.encode()))
    return relpath
