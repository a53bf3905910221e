"""Validate a dataset file into a JSON-ready report, and refuse to train on a bad one.

The report lists every bad record with its line and a plain-words reason, counts exact
duplicates and summarises lengths. A file that is empty or has no valid record is an
error report, never an exception; `raise_for_report` turns any error into the
`InvalidRequestError` the fine-tuning API returns.
"""

from __future__ import annotations

import hashlib
import json
import os

from pydantic import BaseModel, computed_field

from tuneloop_core.datasets.conversation import Container, Conversation, DatasetFormat
from tuneloop_core.datasets.problems import RecordIssue
from tuneloop_core.datasets.reader import DatasetStream
from tuneloop_core.datasets.schemas import RecordSchema
from tuneloop_core.datasets.stats import LengthStats, TokenCounter, TokenStats
from tuneloop_core.errors import InvalidRequestError

TOKEN_BATCH = 256  # conversations per tokenizer call
QUOTED_ISSUES = 3  # bad records quoted in an error message


class ValidationReport(BaseModel):
    """What `POST /v1/datasets/validate` returns, and what the trainer checks first."""

    format: DatasetFormat | None = None  # detected (or given) record format
    container: Container | None = None  # JSON array or JSONL; None for an empty file
    records: int = 0  # records read (non-blank JSONL lines or JSON array elements)
    valid: int = 0
    issues: list[RecordIssue] = []  # every bad record, in file order
    error: str | None = None  # what is wrong with the file as a whole
    duplicates: int = 0  # valid records identical to an earlier one
    chars: LengthStats | None = None  # characters per valid example
    tokens: TokenStats | None = None  # tokens per valid example, when a tokenizer is given

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when the file can be trained on as it is."""
        return self.error is None and not self.issues

    def summary(self, quote: int = QUOTED_ISSUES) -> str:
        """One sentence: what is wrong, quoting the first `quote` bad records."""
        if self.ok:
            return f"{self.valid} valid records ({self.format})"
        text = self.error or f"{len(self.issues)} of {self.records} records are invalid"
        if self.format is not None:
            text += f" (detected format: {self.format.value})"
        if self.issues:
            quoted = [str(issue) for issue in self.issues[:quote]]
            if len(self.issues) > quote:
                quoted.append(f"and {len(self.issues) - quote} more")
            text += ": " + "; ".join(quoted)
        return text


def validate_dataset(
    path: str | os.PathLike[str],
    *,
    schema: RecordSchema | None = None,
    tokenizer: object | None = None,
    max_length: int | None = None,
) -> ValidationReport:
    """Read the whole file (streaming) and report on it; see `ValidationReport`.

    `schema` fixes the columns (a LLaMA-Factory entry's, or a native format's) instead of
    detecting; `tokenizer` adds token statistics, `max_length` counts examples over it.
    """
    return _scan(path, schema, tokenizer, max_length, keep=None)


def raise_for_report(report: ValidationReport, *, param: str = "training_file") -> None:
    """Raise `InvalidRequestError(code="invalid_file_format")` if the report has errors."""
    if not report.ok:
        raise InvalidRequestError(report.summary(), param=param, code="invalid_file_format")


def load_conversations(
    path: str | os.PathLike[str],
    *,
    schema: RecordSchema | None = None,
    param: str = "training_file",
) -> list[Conversation]:
    """Every conversation of a file that has no bad record; raises like `raise_for_report`
    otherwise, so a dataset with errors is never trained on silently."""
    kept: list[Conversation] = []
    raise_for_report(_scan(path, schema, None, None, keep=kept), param=param)
    return kept


def _scan(
    path: str | os.PathLike[str],
    schema: RecordSchema | None,
    tokenizer: object | None,
    max_length: int | None,
    *,
    keep: list[Conversation] | None,
) -> ValidationReport:
    stream = DatasetStream(path, schema=schema)
    counter = TokenCounter(tokenizer) if tokenizer is not None else None
    issues: list[RecordIssue] = []
    seen: set[bytes] = set()
    duplicates = 0
    chars: list[int] = []
    tokens: list[int] = []
    batch: list[Conversation] = []
    for item in stream:
        if isinstance(item, RecordIssue):
            issues.append(item)
            continue
        key = _fingerprint(item)
        duplicates += key in seen
        seen.add(key)
        chars.append(item.chars)
        if keep is not None:
            keep.append(item)
        if counter is not None:
            batch.append(item)
            if len(batch) >= TOKEN_BATCH:
                tokens += counter.count(batch)
                batch.clear()
    if counter is not None:
        tokens += counter.count(batch)
    return ValidationReport(
        format=stream.format,
        container=stream.container,
        records=stream.records,
        valid=len(chars),
        issues=issues,
        error=_file_error(stream.container, stream.records, len(chars)),
        duplicates=duplicates,
        chars=LengthStats.of(chars) if chars else None,
        tokens=TokenStats.of(tokens, max_length) if tokens else None,
    )


def _file_error(container: Container | None, records: int, valid: int) -> str | None:
    if container is None:
        return "the file is empty"
    if records == 0:
        return "the file is an empty JSON array"
    if valid == 0:
        return f"no valid record: all {records} records have errors"
    return None


def _fingerprint(conversation: Conversation) -> bytes:
    """A 16-byte digest of the turns: exact duplicates without keeping every text."""
    turns = [[turn.role.value, turn.content, turn.weight] for turn in conversation.turns]
    data = json.dumps(turns, ensure_ascii=False).encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).digest()
