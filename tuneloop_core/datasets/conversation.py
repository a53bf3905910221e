"""The normalised forms every dataset format is read into: a conversation of turns (SFT),
or a preference pair (DPO): prompt turns, a chosen answer and a rejected one.

A turn is a role (system, user, assistant), its text and, for assistant turns, a training
weight (OpenAI's per-message `weight`: 1 trains on the turn, 0 only conditions on it).
Equality and hashing look at the content only, never at where an example came from, so
duplicates and round trips compare what would be trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class DatasetKind(StrEnum):
    """What a file's records are: SFT conversations or preference pairs. A file holds one."""

    SFT = "sft"
    PREFERENCE = "preference"


class DatasetFormat(StrEnum):
    """The record shapes Tuneloop reads and writes."""

    ALPACA = "alpaca"  # instruction / input / output [/ system / history]
    SHAREGPT = "sharegpt"  # conversations: [{from, value}], [system]
    OPENAI = "openai"  # messages: [{role, content[, weight]}]
    PROMPT_COMPLETION = "prompt_completion"  # prompt / completion
    # Preference pairs. OpenAI: input: {messages}, preferred_output / non_preferred_output:
    # [{role: assistant, content}]
    OPENAI_PREFERENCE = "openai_preference"
    # LLaMA-Factory: instruction / input / chosen / rejected [/ system / history]
    ALPACA_PAIRWISE = "alpaca_pairwise"
    # LLaMA-Factory: conversations: [{from, value}] (or messages: [{role, content}]) ending
    # on the user, chosen / rejected: {from: gpt, value}, [system]
    SHAREGPT_PAIRWISE = "sharegpt_pairwise"

    @property
    def kind(self) -> DatasetKind:
        return DatasetKind.PREFERENCE if self in PREFERENCE_FORMATS else DatasetKind.SFT


PREFERENCE_FORMATS = frozenset(
    {
        DatasetFormat.OPENAI_PREFERENCE,
        DatasetFormat.ALPACA_PAIRWISE,
        DatasetFormat.SHAREGPT_PAIRWISE,
    }
)


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


@dataclass(frozen=True)
class PreferencePair:
    """A preference (DPO) example: the prompt turns (an optional system turn, then user and
    assistant turns alternating, ending with the user), the preferred final answer `chosen`
    and the non-preferred one `rejected`. `line` and `record` as in `Conversation`."""

    prompt: tuple[Turn, ...]
    chosen: str
    rejected: str
    line: int = field(default=0, compare=False)
    record: int = field(default=0, compare=False)

    @property
    def system(self) -> str | None:
        """The system prompt, if the prompt opens with one."""
        if self.prompt and self.prompt[0].role is Role.SYSTEM:
            return self.prompt[0].content
        return None

    @property
    def chars(self) -> int:
        """Characters of the longer sequence trained on: the prompt and the longer answer."""
        return sum(len(turn.content) for turn in self.prompt) + max(
            len(self.chosen), len(self.rejected)
        )

    def prompt_messages(self) -> list[dict[str, str]]:
        """`[{"role", "content"}]` of the prompt, the shape chat templates take."""
        return [{"role": turn.role.value, "content": turn.content} for turn in self.prompt]

    def chosen_conversation(self) -> Conversation:
        """The prompt followed by the chosen answer."""
        return Conversation(
            (*self.prompt, Turn(Role.ASSISTANT, self.chosen)), self.line, self.record
        )

    def rejected_conversation(self) -> Conversation:
        """The prompt followed by the rejected answer."""
        return Conversation(
            (*self.prompt, Turn(Role.ASSISTANT, self.rejected)), self.line, self.record
        )


def _weight(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"weight must be 0 or 1, got {value!r}")
