"""The normalised form every dataset format is read into: a conversation of turns.

A turn is a role (system, user, assistant), its text and, for assistant turns, a training
weight (OpenAI's per-message `weight`: 1 trains on the turn, 0 only conditions on it).
Equality and hashing look at the turns only, never at where a conversation came from, so
duplicates and round trips compare what would be trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class DatasetFormat(StrEnum):
    """The record shapes Tuneloop reads and writes."""

    ALPACA = "alpaca"  # instruction / input / output [/ system / history]
    SHAREGPT = "sharegpt"  # conversations: [{from, value}], [system]
    OPENAI = "openai"  # messages: [{role, content[, weight]}]
    PROMPT_COMPLETION = "prompt_completion"  # prompt / completion


class Container(StrEnum):
    """How records sit in the file: one JSON array, or one JSON object per line."""

    JSON_ARRAY = "json_array"
    JSONL = "jsonl"


@dataclass(frozen=True)
class Turn:
    """One message. `weight` is None for system and user turns and 0 or 1 (default 1) for
    assistant turns."""

    role: Role
    content: str
    weight: int | None = None

    def __post_init__(self) -> None:
        role = Role(self.role)  # accept plain strings such as "user"
        object.__setattr__(self, "role", role)
        if role is Role.ASSISTANT:
            if self.weight is None:
                object.__setattr__(self, "weight", 1)
            elif type(self.weight) is not int or self.weight not in (0, 1):
                raise ValueError(f"assistant weight must be 0 or 1, got {self.weight!r}")
        elif self.weight is not None:
            raise ValueError(f"only assistant turns carry a weight, not {role.value} turns")


@dataclass(frozen=True)
class Conversation:
    """A training example. `line` is the 1-based line of the file where the record starts;
    `record` is its 1-based element number in a JSON array (in JSONL, the line number).
    Both are 0 for conversations built in code."""

    turns: tuple[Turn, ...]
    line: int = field(default=0, compare=False)
    record: int = field(default=0, compare=False)

    @classmethod
    def from_messages(cls, messages: list[dict[str, str]]) -> Conversation:
        """Build from `[{"role": ..., "content": ...}]` (a `weight` key is honoured)."""
        return cls(
            tuple(Turn(Role(m["role"]), m["content"], _weight(m.get("weight"))) for m in messages)
        )

    @property
    def system(self) -> str | None:
        """The system prompt, if the conversation opens with one."""
        if self.turns and self.turns[0].role is Role.SYSTEM:
            return self.turns[0].content
        return None

    @property
    def answer(self) -> str:
        """The last assistant turn's text: the reference answer for evaluation."""
        return self.turns[self._last_answer()].content

    @property
    def chars(self) -> int:
        """Characters over all turns."""
        return sum(len(turn.content) for turn in self.turns)

    def messages(self) -> list[dict[str, str]]:
        """`[{"role", "content"}]`, the shape chat templates take."""
        return [{"role": turn.role.value, "content": turn.content} for turn in self.turns]

    def prompt_messages(self) -> list[dict[str, str]]:
        """Every turn before the last assistant turn: what a model is asked when evaluated."""
        return self.messages()[: self._last_answer()]

    def _last_answer(self) -> int:
        for index in range(len(self.turns) - 1, -1, -1):
            if self.turns[index].role is Role.ASSISTANT:
                return index
        raise ValueError("the conversation has no assistant turn")


def _weight(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"weight must be 0 or 1, got {value!r}")
