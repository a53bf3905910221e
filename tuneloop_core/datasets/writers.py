"""Write conversations as Alpaca JSON, ShareGPT JSON, OpenAI messages JSONL or
prompt/completion JSONL, and return the LLaMA-Factory dataset_info.json entry for the file,
so what datagen writes is accepted by LLaMA-Factory as it is. Write preference pairs as
OpenAI's preference JSONL (`preference_line`, `write_preference_jsonl`).

Reading a written file back gives the same conversations (or pairs). Every example must
pass the same checks the readers apply; one a format cannot hold (a weight-0 turn in
Alpaca, several turns in prompt/completion, identical answers in a pair) raises ValueError.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tuneloop_core.datasets.conversation import (
    Conversation,
    DatasetFormat,
    PreferencePair,
    Role,
    Turn,
)
from tuneloop_core.datasets.llamafactory import llamafactory_entry
from tuneloop_core.datasets.problems import RecordProblem, check_pair, check_turns

ToRecord = Callable[[Conversation], dict[str, Any]]


def to_alpaca(conversation: Conversation) -> dict[str, Any]:
    """instruction/input/output, plus system and history when there are any."""
    _require_weights(conversation, "Alpaca")
    system, pairs = _pairs(conversation)
    (instruction, output), history = pairs[-1], pairs[:-1]
    record: dict[str, Any] = {"instruction": instruction, "input": "", "output": output}
    if system is not None:
        record["system"] = system
    if history:
        record["history"] = [list(pair) for pair in history]
    return record


def to_sharegpt(conversation: Conversation) -> dict[str, Any]:
    """conversations of {from: system|human|gpt, value}."""
    _require_weights(conversation, "ShareGPT")
    tags = {Role.SYSTEM: "system", Role.USER: "human", Role.ASSISTANT: "gpt"}
    turns = [{"from": tags[turn.role], "value": turn.content} for turn in conversation.turns]
    return {"conversations": turns}


def to_openai(conversation: Conversation) -> dict[str, Any]:
    """messages of {role, content}, with `weight: 0` on assistant turns not trained on."""
    messages: list[dict[str, Any]] = []
    for turn in conversation.turns:
        message: dict[str, Any] = {"role": turn.role.value, "content": turn.content}
        if turn.weight == 0:
            message["weight"] = 0
        messages.append(message)
    return {"messages": messages}


def to_prompt_completion(conversation: Conversation) -> dict[str, Any]:
    """prompt/completion: one user turn and one assistant turn only."""
    roles = [turn.role for turn in conversation.turns]
    if roles != [Role.USER, Role.ASSISTANT] or conversation.turns[1].weight == 0:
        raise ValueError("prompt/completion holds exactly one user and one assistant turn")
    return {"prompt": conversation.turns[0].content, "completion": conversation.turns[1].content}


def preference_line(
    prompt: Sequence[Turn | Mapping[str, str]], chosen: str, rejected: str
) -> dict[str, Any]:
    """One line of OpenAI's preference JSONL: `input.messages` (the prompt: `Turn`s or
    `{"role", "content"}` messages, an optional system turn, then user and assistant
    alternating, ending with the user), `preferred_output` and `non_preferred_output` (one
    assistant message each). Raises ValueError, with the reason the reader would give, for
    a pair it would refuse (identical answers, a prompt not ending with the user, ...)."""
    turns = [t if isinstance(t, Turn) else Turn(Role(t["role"]), t["content"]) for t in prompt]
    try:
        check_pair(turns, chosen, rejected, ("preferred_output", "non_preferred_output"))
    except RecordProblem as problem:
        raise ValueError(problem.message) from None
    return {
        "input": {"messages": [{"role": t.role.value, "content": t.content} for t in turns]},
        "preferred_output": [{"role": "assistant", "content": chosen}],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }


def write_preference_jsonl(pairs: Iterable[PreferencePair], path: str | os.PathLike[str]) -> int:
    """OpenAI preference JSONL, one `preference_line` per pair; returns the pairs written.
    The file appears complete or not at all."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")  # renamed into place when complete
    written = 0
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as out:
            for number, pair in enumerate(pairs, 1):
                try:
                    line = preference_line(pair.prompt, pair.chosen, pair.rejected)
                except ValueError as err:
                    raise ValueError(f"pair {number}: {err}") from None
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                written = number
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return written


WRITERS: dict[DatasetFormat, tuple[ToRecord, bool]] = {  # format → (converter, JSONL?)
    DatasetFormat.ALPACA: (to_alpaca, False),
    DatasetFormat.SHAREGPT: (to_sharegpt, False),
    DatasetFormat.OPENAI: (to_openai, True),
    DatasetFormat.PROMPT_COMPLETION: (to_prompt_completion, True),
}


def write_dataset(
    conversations: Iterable[Conversation], path: str | os.PathLike[str], fmt: DatasetFormat
) -> dict[str, Any]:
    """Write `conversations` to `path` in `fmt` (Alpaca and ShareGPT as a JSON array, the
    others as JSONL); returns the dataset_info.json entry, `file_name` = the file's name."""
    if fmt not in WRITERS:
        raise ValueError(f"{fmt.value} holds preference pairs: use write_preference_jsonl")
    to_record, jsonl = WRITERS[fmt]
    columns: set[str] = set()
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")  # renamed into place when complete
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as out:
            out.write("" if jsonl else "[")
            for number, conversation in enumerate(conversations, 1):
                record = _record(to_record, conversation, number)
                columns.update(record)
                if jsonl:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    text = json.dumps(record, ensure_ascii=False, indent=2)
                    out.write(("," if number > 1 else "") + "\n" + textwrap.indent(text, "  "))
            out.write("" if jsonl else "\n]\n")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return llamafactory_entry(
        fmt, target.name, system="system" in columns, history="history" in columns
    )


def write_alpaca(
    conversations: Iterable[Conversation], path: str | os.PathLike[str]
) -> dict[str, Any]:
    """Alpaca JSON array; returns its dataset_info.json entry."""
    return write_dataset(conversations, path, DatasetFormat.ALPACA)


def write_sharegpt(
    conversations: Iterable[Conversation], path: str | os.PathLike[str]
) -> dict[str, Any]:
    """ShareGPT JSON array; returns its dataset_info.json entry."""
    return write_dataset(conversations, path, DatasetFormat.SHAREGPT)


def write_openai_jsonl(
    conversations: Iterable[Conversation], path: str | os.PathLike[str]
) -> dict[str, Any]:
    """OpenAI chat fine-tuning JSONL; returns its dataset_info.json entry."""
    return write_dataset(conversations, path, DatasetFormat.OPENAI)


def _record(to_record: ToRecord, conversation: Conversation, number: int) -> dict[str, Any]:
    try:
        check_turns(conversation.turns)
        return to_record(conversation)
    except RecordProblem as problem:
        raise ValueError(f"conversation {number}: {problem.message}") from None
    except ValueError as err:
        raise ValueError(f"conversation {number}: {err}") from None


def _pairs(conversation: Conversation) -> tuple[str | None, list[tuple[str, str]]]:
    """The system prompt and the (user, assistant) pairs of a checked conversation."""
    system = conversation.system
    turns = conversation.turns[1:] if system is not None else conversation.turns
    return system, [(turns[i].content, turns[i + 1].content) for i in range(0, len(turns), 2)]


def _require_weights(conversation: Conversation, fmt: str) -> None:
    if any(turn.weight == 0 for turn in conversation.turns):
        raise ValueError(f"{fmt} cannot carry assistant weights; write OpenAI JSONL instead")
