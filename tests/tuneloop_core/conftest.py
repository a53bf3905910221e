"""SmolLM2-135M-Instruct pulled once per test run into a temporary data directory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tuneloop_core.basemodels import pull


@dataclass
class PulledModel:
    """A real `pull` and what it reported: seconds per stage from its first to last event."""

    path: Path
    data_dir: Path
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="session")
def pulled_smollm2(tmp_path_factory: pytest.TempPathFactory) -> PulledModel:
    data_dir = tmp_path_factory.mktemp("smollm2-data")
    first_seen: dict[str, float] = {}
    stages: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        first_seen.setdefault(stage, now)
        stages[stage] = now - first_seen[stage]

    started = time.monotonic()
    path = pull("smollm2-135m", data_dir, progress)
    return PulledModel(path, data_dir, time.monotonic() - started, stages)
