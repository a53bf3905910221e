"""Why a record is rejected: issue codes, the exception record parsers raise, and the
structural checks every format shares once its record has been turned into turns (a
conversation) or into prompt turns and two answers (a preference pair)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from tuneloop_core.datasets.conversation import Role, Turn


class IssueCode(StrEnum):
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    EMPTY_OBJECT = "empty_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_CONTENT = "empty_content"
    NO_ASSISTANT_TURN = "no_assistant_turn"
    LAST_TURN_NOT_ASSISTANT = "last_turn_not_assistant"
    ROLES_NOT_ALTERNATING = "roles_not_alternating"
    UNKNOWN_ROLE = "unknown_role"
    ALL_WEIGHTS_ZERO = "all_weights_zero"
    MIXED_FORMAT = "mixed_format"
    MIXED_KIND = "mixed_kind"  # a preference pair in a file of conversations, or the reverse
    LAST_TURN_NOT_USER = "last_turn_not_user"  # a preference prompt must end with the user
    OUTPUT_NOT_ASSISTANT = "output_not_assistant"  # a preference answer from another role
    IDENTICAL_OUTPUTS = "identical_outputs"  # chosen and rejected are the same text
    UNSUPPORTED = "unsupported"  # tool calls, images


class RecordProblem(Exception):
    """A record cannot be used; `message` says why in plain words."""

    def __init__(self, code: IssueCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class RecordIssue(BaseModel):
    """A bad record: where it is, a machine-readable code and a plain-words reason.
    `record` is the element number in a JSON array and equals `line` in JSONL."""

    model_config = ConfigDict(frozen=True)

    line: int
    record: int
    code: IssueCode
    message: str

    @property
    def where(self) -> str:
        """ "line 3" in JSONL; "record 3 (line 14)" in a JSON array."""
        return where(self.line, self.record)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def where(line: int, record: int) -> str:
    """ "line 3" in JSONL (record == line); "record 3 (line 14)" in a JSON array."""
    if record == line:
        return f"line {line}"
    return f"record {record} (line {line})"


def type_name(value: Any) -> str:
    """JSON's name for a value's type, for messages such as "'output' is a number"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def require_str(record: dict[str, Any], key: str, *, optional: bool = False) -> str:
    """`record[key]` as a string; a missing key is "" when `optional`, null counts as
    missing for optional keys only."""
    if key not in record or (optional and record[key] is None):
        if optional:
            return ""
        raise RecordProblem(IssueCode.MISSING_FIELD, f"missing '{key}'")
    value = record[key]
    if not isinstance(value, str):
        raise RecordProblem(
            IssueCode.WRONG_TYPE, f"'{key}' must be a string, not {type_name(value)}"
        )
    return value


def check_turns(turns: Sequence[Turn]) -> None:
    """Rules every training example obeys, whatever its file format: no empty text, an
    optional system turn first, then user and assistant alternating, ending with the
    assistant, with at least one assistant turn that is trained on."""
    if not turns:
        raise RecordProblem(IssueCode.EMPTY_CONTENT, "the conversation has no turns")
    _check_texts(turns)
    if not any(turn.role is Role.ASSISTANT for turn in turns):
        raise RecordProblem(IssueCode.NO_ASSISTANT_TURN, "no assistant turn")
    _check_alternation(turns)
    if turns[-1].role is not Role.ASSISTANT:
        raise RecordProblem(
            IssueCode.LAST_TURN_NOT_ASSISTANT,
            f"the last turn is from the {turns[-1].role.value}, not the assistant",
        )
    if all(turn.weight == 0 for turn in turns if turn.role is Role.ASSISTANT):
        raise RecordProblem(
            IssueCode.ALL_WEIGHTS_ZERO,
            "every assistant turn has weight 0, so there is nothing to train on",
        )


def check_pair(
    prompt: Sequence[Turn],
    chosen: str,
    rejected: str,
    names: tuple[str, str] = ("chosen", "rejected"),
) -> None:
    """Rules every preference pair obeys, whatever its file format: the prompt is a
    conversation (an optional system turn, then user and assistant alternating) that ends
    with the user, and the two answers to it are non-empty and differ. `names` are the
    answers' fields in the record's format, for the messages."""
    if not prompt:
        raise RecordProblem(IssueCode.EMPTY_CONTENT, "the prompt has no turns")
    _check_texts(prompt)
    _check_alternation(prompt)
    if prompt[-1].role is not Role.USER:
        last = "an assistant" if prompt[-1].role is Role.ASSISTANT else "a system"
        raise RecordProblem(
            IssueCode.LAST_TURN_NOT_USER,
            f"the prompt ends with {last} turn; it must end with a user turn, which both "
            "answers reply to",
        )
    for name, answer in zip(names, (chosen, rejected), strict=True):
        if not answer.strip():
            raise RecordProblem(IssueCode.EMPTY_CONTENT, f"'{name}' is empty")
    if chosen.strip() == rejected.strip():
        raise RecordProblem(
            IssueCode.IDENTICAL_OUTPUTS,
            f"'{names[0]}' and '{names[1]}' are the same text, so there is nothing to prefer",
        )


def _check_texts(turns: Sequence[Turn]) -> None:
    for number, turn in enumerate(turns, 1):
        if not turn.content.strip():
            raise RecordProblem(
                IssueCode.EMPTY_CONTENT, f"turn {number} ({turn.role.value}) has empty content"
            )


def _check_alternation(turns: Sequence[Turn]) -> None:
    start = 1 if turns[0].role is Role.SYSTEM else 0
    for index in range(start, len(turns)):
        expected = Role.USER if (index - start) % 2 == 0 else Role.ASSISTANT
        actual = turns[index].role
        if actual is not expected:
            detail = " (a system turn may only come first)" if actual is Role.SYSTEM else ""
            raise RecordProblem(
                IssueCode.ROLES_NOT_ALTERNATING,
                f"roles do not alternate user/assistant: turn {index + 1} is "
                f"{actual.value}, expected {expected.value}{detail}",
            )
