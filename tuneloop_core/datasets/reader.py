"""Read a dataset file into conversations, record by record, detecting its format.

The format is detected per file from the first records that have a recognisable shape
(the majority of the first `DETECT_RECORDS`); every later record of another recognisable
format is reported as mixed. Records with no recognisable key are parsed with the detected
format, so they get a precise reason such as "missing 'output'".
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tuneloop_core.datasets.conversation import Container, Conversation, DatasetFormat
from tuneloop_core.datasets.jsonio import RawRecord, detect_container, iter_raw_records
from tuneloop_core.datasets.problems import IssueCode, RecordIssue, RecordProblem, check_turns
from tuneloop_core.datasets.schemas import NATIVE_SCHEMAS, RecordSchema, guess_format

DETECT_RECORDS = 20
# Records buffered while detecting before giving up on finding DETECT_RECORDS shapes.
MAX_DETECT_BUFFER = 1000
FORMAT_NAMES = {
    DatasetFormat.ALPACA: "Alpaca",
    DatasetFormat.SHAREGPT: "ShareGPT",
    DatasetFormat.OPENAI: "OpenAI messages",
    DatasetFormat.PROMPT_COMPLETION: "prompt/completion",
}
KNOWN_KEYS = "'messages', 'conversations', 'instruction'/'output' or 'prompt'/'completion'"


class DatasetStream:
    """Iterate a dataset file as `Conversation`s and `RecordIssue`s, in file order.

    Pass a `schema` to read with fixed columns (a native format's or a LLaMA-Factory
    entry's) instead of detecting. `container`, `format` and `records` are filled in as
    the file is read.
    """

    def __init__(self, path: str | os.PathLike[str], *, schema: RecordSchema | None = None):
        self.path = path
        self.schema = schema
        self.container: Container | None = None
        self.format: DatasetFormat | None = schema.format if schema else None
        self.records = 0

    def __iter__(self) -> Iterator[Conversation | RecordIssue]:
        self.container = detect_container(self.path)
        if self.container is None:
            return
        raw = iter_raw_records(self.path, self.container)
        if self.schema is not None:
            for item in raw:
                yield self._read(item, self.schema, check_mixed=False)
            return
        buffered = self._detect(raw)
        schema = NATIVE_SCHEMAS[self.format] if self.format else None
        for item in _chain(buffered, raw):
            yield self._read(item, schema, check_mixed=True)

    def _detect(self, raw: Iterator[RawRecord]) -> list[RawRecord]:
        """Read ahead until DETECT_RECORDS records have a known shape; set `format`."""
        buffered: list[RawRecord] = []
        seen: Counter[DatasetFormat] = Counter()
        for item in raw:
            buffered.append(item)
            if isinstance(item.value, dict) and (fmt := guess_format(item.value)):
                seen[fmt] += 1  # Counter keeps first-seen order, so ties go to the earliest
            if sum(seen.values()) >= DETECT_RECORDS or len(buffered) >= MAX_DETECT_BUFFER:
                break
        self.format = seen.most_common(1)[0][0] if seen else None
        return buffered

    def _read(
        self, item: RawRecord, schema: RecordSchema | None, *, check_mixed: bool
    ) -> Conversation | RecordIssue:
        self.records += 1
        try:
            record = _as_object(item)
            if check_mixed and self.format:
                fmt = guess_format(record)
                if fmt is not None and fmt is not self.format:
                    raise RecordProblem(
                        IssueCode.MIXED_FORMAT,
                        f"mixed formats: this record is {FORMAT_NAMES[fmt]} but the file is "
                        f"{FORMAT_NAMES[self.format]} (detected from its first records)",
                    )
            if schema is None:
                raise RecordProblem(
                    IssueCode.MISSING_FIELD,
                    f"no known dataset fields: expected {KNOWN_KEYS}, found {_keys(record)}",
                )
            turns = schema.parse(record)
            check_turns(turns)
        except RecordProblem as problem:
            return RecordIssue(
                line=item.line, record=item.record, code=problem.code, message=problem.message
            )
        return Conversation(turns, line=item.line, record=item.record)


@dataclass
class Dataset:
    """A whole file read into memory: its conversations and its bad records."""

    format: DatasetFormat | None
    container: Container | None
    records: int
    conversations: list[Conversation] = field(default_factory=list)
    issues: list[RecordIssue] = field(default_factory=list)


def read_dataset(path: str | os.PathLike[str], *, schema: RecordSchema | None = None) -> Dataset:
    """Every conversation and every bad record of a file (see `DatasetStream`)."""
    stream = DatasetStream(path, schema=schema)
    conversations: list[Conversation] = []
    issues: list[RecordIssue] = []
    for item in stream:
        if isinstance(item, Conversation):
            conversations.append(item)
        else:
            issues.append(item)
    return Dataset(stream.format, stream.container, stream.records, conversations, issues)


def _as_object(item: RawRecord) -> dict[str, Any]:
    if item.problem is not None:
        raise item.problem
    if not isinstance(item.value, dict):
        raise RecordProblem(IssueCode.NOT_OBJECT, "not a JSON object")
    if not item.value:
        raise RecordProblem(IssueCode.EMPTY_OBJECT, "empty object")
    return item.value


def _keys(record: dict[str, Any]) -> str:
    shown = ", ".join(f"'{key}'" for key in list(record)[:5])
    return shown + (", …" if len(record) > 5 else "")


def _chain(first: list[RawRecord], rest: Iterator[RawRecord]) -> Iterator[RawRecord]:
    yield from first
    yield from rest
