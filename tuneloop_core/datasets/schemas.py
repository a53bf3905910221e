"""How one JSON record of each format becomes turns, or a preference pair.

A schema names the fields (columns) and role tags of a format, the way LLaMA-Factory's
`dataset_info.json` does, so the native formats and any `columns`/`tags` mapping share one
parser per family: `AlpacaSchema` (Alpaca, prompt/completion) and `ChatSchema` (ShareGPT,
OpenAI messages) for conversations; `AlpacaPairSchema`, `ChatPairSchema` (LLaMA-Factory's
pairwise records) and `OpenAIPreferenceSchema` for preference pairs. `parse` raises
`RecordProblem` with a plain-words reason; a pair schema's `parse` also checks the pair
(`check_pair`), so its messages name the format's own answer fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuneloop_core.datasets.conversation import DatasetFormat, PreferencePair, Role, Turn
from tuneloop_core.datasets.problems import (
    IssueCode,
    RecordProblem,
    check_pair,
    require_str,
    type_name,
)


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
        turns = _alpaca_prompt(record, self.prompt, self.query, self.system, self.history)
        turns.append(Turn(Role.ASSISTANT, require_str(record, self.response)))
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
        turns.extend(self._turn(f"turn {number}", m) for number, m in enumerate(messages, 1))
        return tuple(turns)

    def _turn(self, label: str, message: Any) -> Turn:
        """One message; `label` names it in reasons ("turn 3", "'chosen'")."""
        if not isinstance(message, dict):
            raise RecordProblem(
                IssueCode.WRONG_TYPE, f"{label} is {type_name(message)}, not an object"
            )
        if self.role_tag not in message:
            raise RecordProblem(IssueCode.MISSING_FIELD, f"{label} has no '{self.role_tag}'")
        tag = message[self.role_tag]
        calls = self.openai and any(message.get(k) for k in ("tool_calls", "function_call"))
        if tag in self.tool_tags or calls:
            raise RecordProblem(
                IssueCode.UNSUPPORTED,
                f"{label} is a tool or function call ({self.role_tag}: {tag!r}); "
                "function calling is not supported yet",
            )
        role = self._role(label, tag)
        if self.content_tag not in message:
            raise RecordProblem(IssueCode.MISSING_FIELD, f"{label} has no '{self.content_tag}'")
        content = message[self.content_tag]
        if self.openai and isinstance(content, list):
            content = _join_text_parts(label, content)
        if not isinstance(content, str):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"{label}: '{self.content_tag}' must be a string, not {type_name(content)}",
            )
        weight = message.get("weight") if self.openai else None
        if weight is not None and role is not Role.ASSISTANT:
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"{label}: 'weight' is only allowed on assistant messages",
            )
        if weight is not None and (type(weight) is not int or weight not in (0, 1)):
            raise RecordProblem(
                IssueCode.WRONG_TYPE, f"{label}: 'weight' must be 0 or 1, not {weight!r}"
            )
        return Turn(role, content, weight)

    def _role(self, label: str, tag: Any) -> Role:
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
            f"{label} has unknown role {tag!r} (expected one of: {known})",
        )


@dataclass(frozen=True)
class AlpacaPairSchema:
    """LLaMA-Factory's Alpaca preference records: the prompt as in `AlpacaSchema`, the
    chosen and rejected answers as strings."""

    format: DatasetFormat = DatasetFormat.ALPACA_PAIRWISE
    prompt: str | None = "instruction"
    query: str | None = "input"
    chosen: str = "chosen"
    rejected: str = "rejected"
    system: str | None = "system"
    history: str | None = "history"

    def parse(self, record: dict[str, Any]) -> PreferencePair:
        prompt = _alpaca_prompt(record, self.prompt, self.query, self.system, self.history)
        chosen = require_str(record, self.chosen)
        rejected = require_str(record, self.rejected)
        check_pair(prompt, chosen, rejected, (self.chosen, self.rejected))
        return PreferencePair(tuple(prompt), chosen, rejected)


@dataclass(frozen=True)
class ChatPairSchema:
    """LLaMA-Factory's ShareGPT preference records: the prompt as messages ending with the
    user, the chosen and rejected answers as one assistant message each. `chats` are the
    message layouts accepted; a record is read with the first whose `messages` column it
    has (ShareGPT's `conversations` or the OpenAI-style `messages`)."""

    chats: tuple[ChatSchema, ...]
    format: DatasetFormat = DatasetFormat.SHAREGPT_PAIRWISE
    chosen: str = "chosen"
    rejected: str = "rejected"

    def parse(self, record: dict[str, Any]) -> PreferencePair:
        chat = next((c for c in self.chats if c.messages in record), self.chats[0])
        prompt = chat.parse(record)
        for column in (self.chosen, self.rejected):
            if column not in record:
                raise RecordProblem(IssueCode.MISSING_FIELD, f"missing '{column}'")
        chosen = _answer(chat, self.chosen, record[self.chosen])
        rejected = _answer(chat, self.rejected, record[self.rejected])
        check_pair(prompt, chosen, rejected, (self.chosen, self.rejected))
        return PreferencePair(prompt, chosen, rejected)


@dataclass(frozen=True)
class OpenAIPreferenceSchema:
    """OpenAI's preference fine-tuning records: `input` holds the prompt's `messages` (its
    `tools` are refused as in chat records; `parallel_tool_calls` is ignored), and each
    output is a list of exactly one assistant message."""

    format: DatasetFormat = DatasetFormat.OPENAI_PREFERENCE
    input: str = "input"
    chosen: str = "preferred_output"
    rejected: str = "non_preferred_output"

    def parse(self, record: dict[str, Any]) -> PreferencePair:
        if self.input not in record:
            raise RecordProblem(IssueCode.MISSING_FIELD, f"missing '{self.input}'")
        given = record[self.input]
        if not isinstance(given, dict):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"'{self.input}' must be an object holding 'messages', not {type_name(given)}",
            )
        try:
            prompt = OPENAI.parse(given)
        except RecordProblem as problem:
            raise RecordProblem(problem.code, f"'{self.input}': {problem.message}") from None
        chosen = self._output(record, self.chosen)
        rejected = self._output(record, self.rejected)
        check_pair(prompt, chosen, rejected, (self.chosen, self.rejected))
        return PreferencePair(prompt, chosen, rejected)

    def _output(self, record: dict[str, Any], key: str) -> str:
        if key not in record:
            raise RecordProblem(IssueCode.MISSING_FIELD, f"missing '{key}'")
        value = record[key]
        if not isinstance(value, list):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"'{key}' must be a list holding one assistant message, not {type_name(value)}",
            )
        if len(value) != 1:
            raise RecordProblem(
                IssueCode.EMPTY_CONTENT if not value else IssueCode.WRONG_TYPE,
                f"'{key}' must hold exactly one assistant message, not {len(value)}",
            )
        return _answer(OPENAI, key, value[0])


RecordSchema = (
    AlpacaSchema | ChatSchema | AlpacaPairSchema | ChatPairSchema | OpenAIPreferenceSchema
)

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
    schema.format: schema
    for schema in (
        ALPACA,
        SHAREGPT,
        OPENAI,
        PROMPT_COMPLETION,
        OpenAIPreferenceSchema(),
        AlpacaPairSchema(),
        ChatPairSchema(chats=(SHAREGPT, OPENAI)),
    )
}
# The keys that identify each format, checked in this order (first match wins): a record
# matches when it has at least one key of every group.
FORMAT_KEYS: tuple[tuple[DatasetFormat, tuple[tuple[str, ...], ...]], ...] = (
    (DatasetFormat.OPENAI_PREFERENCE, (("preferred_output", "non_preferred_output"),)),
    (DatasetFormat.SHAREGPT_PAIRWISE, (("chosen", "rejected"), ("conversations", "messages"))),
    (DatasetFormat.ALPACA_PAIRWISE, (("chosen", "rejected"),)),
    (DatasetFormat.OPENAI, (("messages",),)),
    (DatasetFormat.SHAREGPT, (("conversations",),)),
    (DatasetFormat.ALPACA, (("instruction", "output"),)),
    (DatasetFormat.PROMPT_COMPLETION, (("prompt", "completion"),)),
)


def guess_format(record: dict[str, Any]) -> DatasetFormat | None:
    """The format a record's keys point to, or None when no known key is present."""
    for fmt, groups in FORMAT_KEYS:
        if all(any(key in record for key in keys) for keys in groups):
            return fmt
    return None


def _alpaca_prompt(
    record: dict[str, Any],
    prompt_column: str | None,
    query_column: str | None,
    system_column: str | None,
    history_column: str | None,
) -> list[Turn]:
    """An optional system turn, the history's turns, then user = prompt + "\n" + query."""
    turns: list[Turn] = []
    if system_column and (system := require_str(record, system_column, optional=True)).strip():
        turns.append(Turn(Role.SYSTEM, system))
    if history_column:
        turns.extend(_history_turns(record.get(history_column), history_column))
    prompt = require_str(record, prompt_column) if prompt_column else ""
    query = require_str(record, query_column, optional=True) if query_column else ""
    turns.append(Turn(Role.USER, "\n".join(part for part in (prompt, query) if part)))
    return turns


def _answer(chat: ChatSchema, column: str, message: Any) -> str:
    """A preference answer: one message of `chat`'s layout, from the assistant."""
    turn = chat._turn(f"'{column}'", message)
    if turn.role is not Role.ASSISTANT:
        raise RecordProblem(
            IssueCode.OUTPUT_NOT_ASSISTANT,
            f"'{column}' is a {turn.role.value} message; it must be the assistant's "
            f"({chat.role_tag}: {chat.assistant_tags[0]!r})",
        )
    return turn.content


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


def _join_text_parts(label: str, parts: list[Any]) -> str:
    texts: list[str] = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RecordProblem(
                IssueCode.WRONG_TYPE,
                f"{label}: content parts must be objects with a 'type'",
            )
        if part["type"] != "text":
            raise RecordProblem(
                IssueCode.UNSUPPORTED,
                f"{label}: only text content parts are supported, not {part['type']!r}",
            )
        if not isinstance(part.get("text"), str):
            raise RecordProblem(IssueCode.WRONG_TYPE, f"{label}: a text part needs a string 'text'")
        texts.append(part["text"])
    # Parts are joined with a newline, as vLLM does when it flattens text parts.
    return "\n".join(texts)
