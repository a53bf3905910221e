"""How one JSON record of each format becomes turns.

A schema names the fields (columns) and role tags of a format, the way LLaMA-Factory's
`dataset_info.json` does, so the native formats and any `columns`/`tags` mapping share one
parser per family: `AlpacaSchema` (Alpaca, prompt/completion) and `ChatSchema` (ShareGPT,
OpenAI messages). `parse` raises `RecordProblem` with a plain-words reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuneloop_core.datasets.conversation import DatasetFormat, Role, Turn
from tuneloop_core.datasets.problems import IssueCode, RecordProblem, require_str, type_name


@dataclass(frozen=True)
class AlpacaSchema:
    """Alpaca-like records: user = prompt + "\\n" + query (the non-empty ones), assistant =
    response, after an optional system and `[[user, assistant], ...]` history."""

    format: DatasetFormat = DatasetFormat.ALPACA
    prompt: str | None = "instruction"
    query: str | None = "input"
    response: str = "output"
    system: str | None = "system"
    history: str | None = "history"

    def parse(self, record: dict[str, Any]) -> tuple[Turn, ...]:
        turns: list[Turn] = []
        if self.system and (system := require_str(record, self.system, optional=True)).strip():
            turns.append(Turn(Role.SYSTEM, system))
        if self.history:
            turns.extend(_history_turns(record.get(self.history), self.history))
        prompt = require_str(record, self.prompt) if self.prompt else ""
        query = require_str(record, self.query, optional=True) if self.query else ""
        response = require_str(record, self.response)
        turns.append(Turn(Role.USER, "\n".join(part for part in (prompt, query) if part)))
        turns.append(Turn(Role.ASSISTANT, response))
        return tuple(turns)


@dataclass(frozen=True)
class ChatSchema:
    """Records holding a list of messages, each with a role tag and a content tag."""

    format: DatasetFormat
    messages: str
    role_tag: str
    content_tag: str
    user_tags: tuple[str, ...]
    assistant_tags: tuple[str, ...]
    system_tags: tuple[str, ...]
    tool_tags: tuple[str, ...]  # function calls and their results: recognised, unsupported
    system: str | None = None  # a record-level system prompt column
    tools: tuple[str, ...] = ()  # record-level tool definition columns
    openai: bool = False  # content parts, per-message `weight`, `tool_calls`

    def parse(self, record: dict[str, Any]) -> tuple[Turn, ...]:
        for column in self.tools:
            if _has_tools(record.get(column)):
                raise RecordProblem(
                    IssueCode.UNSUPPORTED,
                    f"tool definitions ('{column}') are not supported yet; "
                    "remove them or the records that use them",
                )
        if self.messages not in record:
            raise RecordProblem(IssueCode.MISSING_FIELD, f"missing '{self.messages}'")
        messages = record[self.messages]
        if not isinstance(messages, list):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"'{self.messages}' must be a list, not {type_name(messages)}",
            )
        if not messages:
            raise RecordProblem(IssueCode.EMPTY_CONTENT, f"'{self.messages}' is an empty list")
        turns: list[Turn] = []
        if self.system and (system := require_str(record, self.system, optional=True)).strip():
            turns.append(Turn(Role.SYSTEM, system))
        turns.extend(self._turn(number, m) for number, m in enumerate(messages, 1))
        return tuple(turns)

    def _turn(self, number: int, message: Any) -> Turn:
        if not isinstance(message, dict):
            raise RecordProblem(
                IssueCode.WRONG_TYPE, f"turn {number} is {type_name(message)}, not an object"
            )
        if self.role_tag not in message:
            raise RecordProblem(IssueCode.MISSING_FIELD, f"turn {number} has no '{self.role_tag}'")
        tag = message[self.role_tag]
        calls = self.openai and any(message.get(k) for k in ("tool_calls", "function_call"))
        if tag in self.tool_tags or calls:
            raise RecordProblem(
                IssueCode.UNSUPPORTED,
                f"turn {number} is a tool or function call ({self.role_tag}: {tag!r}); "
                "function calling is not supported yet",
            )
        role = self._role(number, tag)
        if self.content_tag not in message:
            raise RecordProblem(
                IssueCode.MISSING_FIELD, f"turn {number} has no '{self.content_tag}'"
            )
        content = message[self.content_tag]
        if self.openai and isinstance(content, list):
            content = _join_text_parts(number, content)
        if not isinstance(content, str):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"turn {number}: '{self.content_tag}' must be a string, not {type_name(content)}",
            )
        weight = message.get("weight") if self.openai else None
        if weight is not None and role is not Role.ASSISTANT:
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"turn {number}: 'weight' is only allowed on assistant messages",
            )
        if weight is not None and (type(weight) is not int or weight not in (0, 1)):
            raise RecordProblem(
                IssueCode.WRONG_TYPE, f"turn {number}: 'weight' must be 0 or 1, not {weight!r}"
            )
        return Turn(role, content, weight)

    def _role(self, number: int, tag: Any) -> Role:
        for role, tags in (
            (Role.USER, self.user_tags),
            (Role.ASSISTANT, self.assistant_tags),
            (Role.SYSTEM, self.system_tags),
        ):
            if isinstance(tag, str) and tag in tags:
                return role
        known = ", ".join(self.user_tags + self.assistant_tags + self.system_tags)
        raise RecordProblem(
            IssueCode.UNKNOWN_ROLE,
            f"turn {number} has unknown role {tag!r} (expected one of: {known})",
        )


RecordSchema = AlpacaSchema | ChatSchema

ALPACA = AlpacaSchema()
PROMPT_COMPLETION = AlpacaSchema(
    format=DatasetFormat.PROMPT_COMPLETION,
    prompt="prompt",
    query=None,
    response="completion",
    system=None,
    history=None,
)
SHAREGPT = ChatSchema(
    format=DatasetFormat.SHAREGPT,
    messages="conversations",
    role_tag="from",
    content_tag="value",
    user_tags=("human", "user"),
    assistant_tags=("gpt", "assistant"),
    system_tags=("system",),
    tool_tags=("function_call", "observation"),
    system="system",
    tools=("tools",),
)
OPENAI = ChatSchema(
    format=DatasetFormat.OPENAI,
    messages="messages",
    role_tag="role",
    content_tag="content",
    user_tags=("user",),
    assistant_tags=("assistant",),
    system_tags=("system",),
    tool_tags=("tool", "function"),
    tools=("tools", "functions"),
    openai=True,
)
NATIVE_SCHEMAS: dict[DatasetFormat, RecordSchema] = {
    schema.format: schema for schema in (ALPACA, SHAREGPT, OPENAI, PROMPT_COMPLETION)
}
# The keys that identify each format, checked in this order (first match wins).
FORMAT_KEYS: tuple[tuple[DatasetFormat, tuple[str, ...]], ...] = (
    (DatasetFormat.OPENAI, ("messages",)),
    (DatasetFormat.SHAREGPT, ("conversations",)),
    (DatasetFormat.ALPACA, ("instruction", "output")),
    (DatasetFormat.PROMPT_COMPLETION, ("prompt", "completion")),
)


def guess_format(record: dict[str, Any]) -> DatasetFormat | None:
    """The format a record's keys point to, or None when no known key is present."""
    for fmt, keys in FORMAT_KEYS:
        if any(key in record for key in keys):
            return fmt
    return None


def _history_turns(history: Any, column: str) -> list[Turn]:
    if history is None:
        return []
    pairs_ok = isinstance(history, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        for pair in history
    )
    if not pairs_ok:
        raise RecordProblem(
            IssueCode.WRONG_TYPE, f"'{column}' must be a list of [user, assistant] string pairs"
        )
    turns: list[Turn] = []
    for user, assistant in history:
        turns += [Turn(Role.USER, user), Turn(Role.ASSISTANT, assistant)]
    return turns


def _has_tools(value: Any) -> bool:
    # LLaMA-Factory's tool datasets store tools as a JSON string; "" and "[]" mean none.
    if isinstance(value, str):
        return value.strip() not in ("", "[]", "{}", "null")
    return bool(value)


def _join_text_parts(number: int, parts: list[Any]) -> str:
    texts: list[str] = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"turn {number}: content parts must be objects with a 'type'",
            )
        if part["type"] != "text":
            raise RecordProblem(
                IssueCode.UNSUPPORTED,
                f"turn {number}: only text content parts are supported, not {part['type']!r}",
            )
        if not isinstance(part.get("text"), str):
            raise RecordProblem(
                IssueCode.WRONG_TYPE, f"turn {number}: a text part needs a string 'text'"
            )
        texts.append(part["text"])
    # Parts are joined with a newline, as vLLM does when it flattens text parts.
    return "\n".join(texts)
