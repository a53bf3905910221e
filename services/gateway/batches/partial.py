"""A batch's output and error files while it runs: appended chunk by chunk (flushed and
fsynced), and read back when a redelivered batch resumes, so a line answered before a
worker died is neither answered again nor written twice."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.gateway.batches.lines import line_of


@dataclass
class Tally:
    """What the files hold so far: the lines done, the two counts and the tokens used."""

    lines: set[int] = field(default_factory=set)
    completed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, record: dict[str, Any], ok: bool) -> None:
        number = line_of(str(record.get("id", "")))
        if number is not None:
            self.lines.add(number)
        if not ok:
            self.failed += 1
            return
        self.completed += 1
        usage = (record.get("response") or {}).get("body", {}).get("usage") or {}
        # chat/completions/embeddings name them prompt/completion, responses input/output.
        self.prompt_tokens += int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
        self.completion_tokens += int(
            usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0
        )


def _recover(path: Path) -> list[dict[str, Any]]:
    """The file's whole records; a torn last line (a worker killed mid-write) is cut off."""
    if not path.exists():
        return []
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    good = 0
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break
        try:
            records.append(json.loads(raw))
        except ValueError:
            break
        good += len(raw)
    if good != len(data):
        with path.open("r+b") as handle:
            handle.truncate(good)
    return records


def _append(path: Path, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class PartialFiles:
    """The output and error files of one batch (absolute paths)."""

    output: Path
    errors: Path

    def recover(self) -> Tally:
        tally = Tally()
        for record in _recover(self.output):
            tally.add(record, ok=True)
        for record in _recover(self.errors):
            tally.add(record, ok=False)
        return tally

    def append(self, outputs: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
        _append(self.output, outputs)
        _append(self.errors, errors)
