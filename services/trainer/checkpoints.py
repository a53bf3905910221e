"""Per-epoch adapters and the resume state of a job, under its output directory.

<output>/ckpt-<epoch>/   adapter (or full model) + tokenizer, servable as is
<output>/final/          the last epoch's weights, served as the job's model
<output>/state/          optimizer, scheduler, RNG, position and history for resuming
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Progress:
    """Where training stands; saved with the state so a resumed run continues exactly."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # optimiser steps done in the current epoch
    global_step: int = 0
    trained_tokens: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per epoch
    announced: int = 0  # epochs whose checkpoint event was published
    # The result file's rows (steps and epoch ends) so far: kept with the state, so a job
    # resumed by another worker still reports every step (`results.write_metrics_csv`).
    rows: list[dict[str, float]] = field(default_factory=list)


def checkpoint_dir(output: Path, epoch: int) -> Path:
    return output / f"ckpt-{epoch}"


def _save_model(model: Any, target: Path) -> None:
    """The trained weights only: a DPO run's frozen reference adapter is not saved."""
    adapters = getattr(model, "peft_config", {})
    if len(adapters) > 1:
        model.save_pretrained(target, selected_adapters=["default"])
    else:
        model.save_pretrained(target)


def save_weights(model: Any, tokenizer: Any, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _save_model(model, tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


@dataclass
class TrainingObjects:
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any


def save_state(
    output: Path,
    objects: TrainingObjects,
    progress: Progress,
    extra: dict[str, Any] | None = None,
) -> None:
    """Everything needed to resume: trainable weights too, so a pause mid-epoch loses nothing;
    `extra` is a method's own (e.g. DPO's reference log-probabilities), given back by
    `restore_optimizer`."""
    import torch

    model, tokenizer = objects.model, objects.tokenizer
    optimizer, scheduler = objects.optimizer, objects.scheduler

    state = output / "state"
    tmp = output / ".state.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_model(model, tmp / "weights")
    tokenizer.save_pretrained(tmp / "weights")
    saved = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    if extra is not None:
        saved["extra"] = extra
    torch.save(saved, tmp / "trainer.pt")
    (tmp / "progress.json").write_text(json.dumps(asdict(progress)))
    shutil.rmtree(state, ignore_errors=True)
    tmp.rename(state)


def write_progress(output: Path, progress: Progress) -> None:
    """Rewrite the saved progress alone (atomically), e.g. once an epoch was announced."""
    path = output / "state" / "progress.json"
    tmp = path.with_name(".progress.json.tmp")
    tmp.write_text(json.dumps(asdict(progress)))
    tmp.replace(path)


def discard_state(output: Path) -> None:
    shutil.rmtree(output / "state", ignore_errors=True)


def load_progress(output: Path) -> Progress | None:
    path = output / "state" / "progress.json"
    if not path.is_file():
        return None
    return Progress(**json.loads(path.read_text()))


def restore_optimizer(output: Path, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Optimizer, scheduler and RNG state as saved; returns the method's `extra` state."""
    import torch

    # On the CPU first: every rank of a data-parallel run reads the file rank 0 wrote, and
    # load_state_dict moves the optimizer state onto each parameter's device.
    saved = torch.load(output / "state" / "trainer.pt", map_location="cpu", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])
    random.setstate(saved["python_rng"])
    extra: dict[str, Any] = saved.get("extra", {})
    return extra


def state_weights(output: Path) -> Path:
    return output / "state" / "weights"


def trainable_digest(model: Any) -> str:
    """SHA-256 over the names and bytes of the trainable weights: equal on every rank of a
    data-parallel run whose ranks stayed in sync."""
    import torch

    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
