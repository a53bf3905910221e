"""Validate a dataset file into a JSON-ready report, and refuse to train on a bad one.

The report lists every bad record with its line and a plain-words reason, says which kind
of examples the file holds (SFT conversations or preference pairs), counts exact
duplicates and summarises lengths. A file that is empty, has no valid record or mixes the
two kinds is an error report, never an exception; `raise_for_report` turns any error into
the `InvalidRequestError` the fine-tuning API returns, and `require_kind` refuses a file of
the wrong kind (conversations for a DPO job) with the same error class.

Reading for training, all or nothing (a file with any bad record raises
`InvalidRequestError(code="invalid_file_format")`, so nothing is trained on a bad file):

    load_conversations(path, *, schema=None, param="training_file") -> list[Conversation]
    read_preference_pairs(path, *, schema=None, param="training_file") -> list[PreferencePair]
"""

from __future__ import annotations

import hashlib
import json
import os

from pydantic import BaseModel, computed_field

from tuneloop_core.datasets.conversation import (
    Container,
    Conversation,
    DatasetFormat,
    DatasetKind,
    PreferencePair,
)
from tuneloop_core.datasets.problems import IssueCode, RecordIssue
from tuneloop_core.datasets.reader import FORMAT_NAMES, KIND_NAMES, DatasetStream, Example
from tuneloop_core.datasets.schemas import RecordSchema
from tuneloop_core.datasets.stats import LengthStats, TokenCounter, TokenStats
from tuneloop_core.errors import InvalidRequestError

TOKEN_BATCH = 256  # examples per tokenizer call
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
    # Characters and tokens per valid example; for a preference pair, of its longer
    # sequence (the prompt with the longer answer). Tokens only when a tokenizer is given.
    chars: LengthStats | None = None
    tokens: TokenStats | None = None
    # Where the first record whose keys show each kind is ("line 3"); both kinds appear in
    # a file that mixes them.
    first_of_kind: dict[DatasetKind, str] = {}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind(self) -> DatasetKind | None:
        """SFT conversations or preference pairs (from the format); None when unknown."""
        return self.format.kind if self.format else None

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


def require_kind(
    report: ValidationReport, kind: DatasetKind | str, *, param: str = "training_file"
) -> None:
    """Raise `InvalidRequestError(code="invalid_file_format")` unless the file holds `kind`
    ("sft" or "preference"), naming its first record that is not of that kind. Checks the
    kind only: call `raise_for_report` too (after, as the kind is the likelier mistake)."""
    wanted, fmt = DatasetKind(kind), report.format
    if fmt is None:  # no record has a known shape: the report says why
        raise InvalidRequestError(report.summary(), param=param, code="invalid_file_format")
    if fmt.kind is wanted:
        return
    first = report.first_of_kind.get(fmt.kind)
    text = f"'{param}' holds {KIND_NAMES[fmt.kind][1]} ({FORMAT_NAMES[fmt]}), "
    text += f"not {KIND_NAMES[wanted][1]}"
    if wanted is DatasetKind.PREFERENCE:
        text += f": {first} is not a preference pair" if first else ""
        text += (
            ". Preference training (method 'dpo') needs one pair per line: OpenAI's "
            '{"input": {"messages": [...]}, "preferred_output": [...], '
            "\"non_preferred_output\": [...]}, or LLaMA-Factory's 'chosen'/'rejected'"
        )
    else:
        text += f": {first} is a preference pair" if first else ""
        text += "; preference pairs are for method 'dpo'"
    raise InvalidRequestError(text, param=param, code="invalid_file_format")


def load_conversations(
    path: str | os.PathLike[str],
    *,
    schema: RecordSchema | None = None,
    param: str = "training_file",
) -> list[Conversation]:
    """Every conversation of a file that holds conversations and has no bad record; raises
    like `require_kind` and `raise_for_report` otherwise, so a dataset with errors is never
    trained on silently."""
    kept: list[Example] = []
    report = _scan(path, schema, None, None, keep=kept)
    require_kind(report, DatasetKind.SFT, param=param)
    raise_for_report(report, param=param)
    return [item for item in kept if isinstance(item, Conversation)]


def read_preference_pairs(
    path: str | os.PathLike[str],
    *,
    schema: RecordSchema | None = None,
    param: str = "training_file",
) -> list[PreferencePair]:
    """Every preference pair of a file that holds preference pairs (OpenAI preference JSONL,
    LLaMA-Factory's Alpaca or ShareGPT pairwise records) and has no bad record, in file
    order; raises `InvalidRequestError(param=param, code="invalid_file_format")` otherwise
    (a file of conversations, a mixed file, any bad line), the way `load_conversations`
    does for SFT."""
    kept: list[Example] = []
    report = _scan(path, schema, None, None, keep=kept)
    require_kind(report, DatasetKind.PREFERENCE, param=param)
    raise_for_report(report, param=param)
    return [item for item in kept if isinstance(item, PreferencePair)]


def _scan(
    path: str | os.PathLike[str],
    schema: RecordSchema | None,
    tokenizer: object | None,
    max_length: int | None,
    *,
    keep: list[Example] | None,
) -> ValidationReport:
    stream = DatasetStream(path, schema=schema)
    counter = TokenCounter(tokenizer) if tokenizer is not None else None
    issues: list[RecordIssue] = []
    seen: set[bytes] = set()
    duplicates = 0
    chars: list[int] = []
    tokens: list[int] = []
    batch: list[Example] = []
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
                tokens += _count_tokens(counter, batch)
                batch.clear()
    if counter is not None:
        tokens += _count_tokens(counter, batch)
    return ValidationReport(
        format=stream.format,
        container=stream.container,
        records=stream.records,
        valid=len(chars),
        issues=issues,
        error=_mixed_kind_error(stream, issues)
        or _file_error(stream.container, stream.records, len(chars)),
        duplicates=duplicates,
        chars=LengthStats.of(chars) if chars else None,
        tokens=TokenStats.of(tokens, max_length) if tokens else None,
        first_of_kind=stream.first_of_kind,
    )


def _file_error(container: Container | None, records: int, valid: int) -> str | None:
    if container is None:
        return "the file is empty"
    if records == 0:
        return "the file is an empty JSON array"
    if valid == 0:
        return f"no valid record: all {records} records have errors"
    return None


def _mixed_kind_error(stream: DatasetStream, issues: list[RecordIssue]) -> str | None:
    """ "line 3 is a preference pair, but line 1 is an SFT conversation: …" naming the first
    record of the kind the file was not detected as, and the first of the kind it was."""
    mixed = next((issue for issue in issues if issue.code is IssueCode.MIXED_KIND), None)
    if mixed is None or stream.kind is None:
        return None
    other = DatasetKind.SFT if stream.kind is DatasetKind.PREFERENCE else DatasetKind.PREFERENCE
    first = stream.first_of_kind.get(stream.kind, "the first record")
    return (
        f"{mixed.where} is {KIND_NAMES[other][0]}, but {first} is {KIND_NAMES[stream.kind][0]}: "
        "a file holds one kind, SFT conversations or preference pairs"
    )


def _count_tokens(counter: TokenCounter, batch: list[Example]) -> list[int]:
    """Tokens per example; a preference pair counts its longer sequence. A batch holds one
    kind: a file is read with one schema."""
    if all(isinstance(item, Conversation) for item in batch):
        return counter.count([item for item in batch if isinstance(item, Conversation)])
    pairs = [item for item in batch if isinstance(item, PreferencePair)]
    chosen = counter.count([pair.chosen_conversation() for pair in pairs])
    rejected = counter.count([pair.rejected_conversation() for pair in pairs])
    return [max(c, r) for c, r in zip(chosen, rejected, strict=True)]


def _fingerprint(example: Example) -> bytes:
    """A 16-byte digest of the content: exact duplicates without keeping every text."""
    if isinstance(example, Conversation):
        content: list[object] = [[t.role.value, t.content, t.weight] for t in example.turns]
    else:
        prompt = [[t.role.value, t.content] for t in example.prompt]
        content = ["pair", prompt, example.chosen, example.rejected]
    data = json.dumps(content, ensure_ascii=False).encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).digest()
