"""Read a dataset file into conversations or preference pairs, record by record, detecting
its format.

The format is detected per file from the first records that have a recognisable shape
(the majority of the first `DETECT_RECORDS`); every later record of another recognisable
format is reported as mixed, and one of the other kind (a preference pair in a file of
conversations, or the reverse) as of a mixed kind. Records with no recognisable key are
parsed with the detected format, so they get a precise reason such as "missing 'output'".
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from tuneloop_core.datasets.conversation import (
    Container,
    Conversation,
    DatasetFormat,
    DatasetKind,
    PreferencePair,
)
from tuneloop_core.datasets.jsonio import RawRecord, detect_container, iter_raw_records
from tuneloop_core.datasets.problems import (
    IssueCode,
    RecordIssue,
    RecordProblem,
    check_turns,
    where,
)
from tuneloop_core.datasets.schemas import NATIVE_SCHEMAS, RecordSchema, guess_format

DETECT_RECORDS = 20
# Records buffered while detecting before giving up on finding DETECT_RECORDS shapes.
MAX_DETECT_BUFFER = 1000
FORMAT_NAMES = {
    DatasetFormat.ALPACA: "Alpaca",
    DatasetFormat.SHAREGPT: "ShareGPT",
    DatasetFormat.OPENAI: "OpenAI messages",
    DatasetFormat.PROMPT_COMPLETION: "prompt/completion",
    DatasetFormat.OPENAI_PREFERENCE: "OpenAI preference",
    DatasetFormat.ALPACA_PAIRWISE: "Alpaca pairwise",
    DatasetFormat.SHAREGPT_PAIRWISE: "ShareGPT pairwise",
}
# What one record, and what many records, of each kind are called in messages.
KIND_NAMES = {
    DatasetKind.SFT: ("an SFT conversation", "SFT conversations"),
    DatasetKind.PREFERENCE: ("a preference pair", "preference pairs"),
}
KNOWN_KEYS = (
    "'messages', 'conversations', 'instruction'/'output', 'prompt'/'completion', "
    "'preferred_output'/'non_preferred_output' or 'chosen'/'rejected'"
)

Example = Conversation | PreferencePair


class DatasetStream:
    """Iterate a dataset file as `Conversation`s (or, for a preference format,
    `PreferencePair`s) and `RecordIssue`s, in file order.

    Pass a `schema` to read with fixed columns (a native format's or a LLaMA-Factory
    entry's) instead of detecting. `container`, `format`, `records` and `first_of_kind`
    are filled in as the file is read.
    """

    def __init__(self, path: str | os.PathLike[str], *, schema: RecordSchema | None = None):
        self.path = path
        self.schema = schema
        self.container: Container | None = None
        self.format: DatasetFormat | None = schema.format if schema else None
        self.records = 0
        # Where the first record whose keys show each kind is ("line 3"); two entries when
        # a file mixes conversations and preference pairs.
        self.first_of_kind: dict[DatasetKind, str] = {}

    @property
    def kind(self) -> DatasetKind | None:
        """Conversations or preference pairs, from the detected (or given) format."""
        return self.format.kind if self.format else None

    def __iter__(self) -> Iterator[Example | RecordIssue]:
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
    ) -> Example | RecordIssue:
        self.records += 1
        try:
            record = _as_object(item)
            fmt = guess_format(record)
            if fmt is not None:
                self.first_of_kind.setdefault(fmt.kind, where(item.line, item.record))
            if check_mixed and self.format and fmt is not None and fmt is not self.format:
                raise _mixed(fmt, self.format)
            if schema is None:
                raise RecordProblem(
                    IssueCode.MISSING_FIELD,
                    f"no known dataset fields: expected {KNOWN_KEYS}, found {_keys(record)}",
                )
            parsed = schema.parse(record)
            if isinstance(parsed, PreferencePair):  # checked by its schema
                return replace(parsed, line=item.line, record=item.record)
            check_turns(parsed)
        except RecordProblem as problem:
            return RecordIssue(
                line=item.line, record=item.record, code=problem.code, message=problem.message
            )
        return Conversation(parsed, line=item.line, record=item.record)


@dataclass
class Dataset:
    """A whole file read into memory: its conversations (or preference pairs) and its bad
    records."""

    format: DatasetFormat | None
    container: Container | None
    records: int
    conversations: list[Conversation] = field(default_factory=list)
    issues: list[RecordIssue] = field(default_factory=list)
    pairs: list[PreferencePair] = field(default_factory=list)


def read_dataset(path: str | os.PathLike[str], *, schema: RecordSchema | None = None) -> Dataset:
    """Every conversation or preference pair, and every bad record, of a file (see
    `DatasetStream`). This does not refuse a bad file; `validation` does."""
    stream = DatasetStream(path, schema=schema)
    conversations: list[Conversation] = []
    pairs: list[PreferencePair] = []
    issues: list[RecordIssue] = []
    for item in stream:
        if isinstance(item, Conversation):
            conversations.append(item)
        elif isinstance(item, PreferencePair):
            pairs.append(item)
        else:
            issues.append(item)
    return Dataset(stream.format, stream.container, stream.records, conversations, issues, pairs)


def _mixed(fmt: DatasetFormat, file_format: DatasetFormat) -> RecordProblem:
    if fmt.kind is file_format.kind:
        return RecordProblem(
            IssueCode.MIXED_FORMAT,
            f"mixed formats: this record is {FORMAT_NAMES[fmt]} but the file is "
            f"{FORMAT_NAMES[file_format]} (detected from its first records)",
        )
    return RecordProblem(
        IssueCode.MIXED_KIND,
        f"this record is {KIND_NAMES[fmt.kind][0]} ({FORMAT_NAMES[fmt]}), but the file holds "
        f"{KIND_NAMES[file_format.kind][1]} ({FORMAT_NAMES[file_format]}, detected from its "
        "first records): a file holds one kind",
    )


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
