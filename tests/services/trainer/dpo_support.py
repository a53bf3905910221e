"""What the DPO tests share: preference pairs and hooks that record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.trainer import checkpoints
from tuneloop_core.datasets.conversation import PreferencePair as Pair
from tuneloop_core.datasets.conversation import Turn

QUESTIONS = [
    "函是什麼？",
    "公告給誰看？",
    "What is 速別?",
    "簽由誰寫？",
    "What is 正本?",
    "副本給誰？",
]
# A short preferred answer and a long non-preferred one; one prompt has an earlier exchange
# (conditioning only) and one a system prompt.
PAIRS = [
    Pair((Turn("user", q),), f"{q[:2]}。", f"The answer to {q} is long, winding and unhelpful.")
    for q in QUESTIONS
]
PAIRS[4] = Pair(
    (Turn("user", "Hello"), Turn("assistant", "Hello world."), Turn("user", QUESTIONS[4])),
    PAIRS[4].chosen,
    PAIRS[4].rejected,
)
PAIRS[5] = Pair(
    (Turn("system", "Answer briefly."), Turn("user", QUESTIONS[5])),
    PAIRS[5].chosen,
    PAIRS[5].rejected,
)


@dataclass
class Hooks:
    """RunHooks that record; pause at a step, or raise `crash_at` a step (a killed worker)."""

    pause_at_step: int | None = None
    crash_at_step: int | None = None
    steps: list[dict[str, float]] = field(default_factory=list)
    epochs: list[tuple[int, dict[str, float], Path]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    global_step: int = 0

    def on_step(
        self, progress: checkpoints.Progress, epoch: float, metrics: dict[str, float]
    ) -> None:
        self.global_step = progress.global_step
        self.steps.append(metrics)
        if progress.global_step == self.crash_at_step:
            raise Crash

    def on_epoch(self, epoch: int, metrics: dict[str, float], checkpoint: Path) -> None:
        self.epochs.append((epoch, metrics, checkpoint))

    def stop_requested(self) -> Literal["pause", "cancel"] | None:
        if self.pause_at_step is not None and self.global_step >= self.pause_at_step:
            return "pause"
        return None

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class Crash(Exception):
    """Stands in for a worker killed mid-epoch: nothing after the last save survives."""
