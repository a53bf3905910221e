"""LLaMA-Factory `dataset_info.json` entries: read the local file an entry names with its
`formatting`, `columns` and `tags`, and write entries for files Tuneloop produces.

The mapping follows LLaMA-Factory's own parser: without `columns` the defaults apply
(instruction/input/output; conversations), but once `columns` (or `tags`) is given, every
column (or tag) it does not name is unset, not defaulted. So an entry means the same thing
here as it does to LLaMA-Factory. A `"ranking": true` entry is a preference dataset: its
`chosen` and `rejected` columns (which have no default) hold the two answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneloop_core.datasets.conversation import DatasetFormat, DatasetKind
from tuneloop_core.datasets.schemas import (
    AlpacaPairSchema,
    AlpacaSchema,
    ChatPairSchema,
    ChatSchema,
    RecordSchema,
)
from tuneloop_core.errors import InvalidRequestError

HUB_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
UNSUPPORTED_COLUMNS = {
    "images": "images",
    "videos": "videos",
    "audios": "audio",
    "kto_tag": "KTO labels",
}
FILE_SUFFIXES = (".json", ".jsonl")
DEFAULT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
OPENAI_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}


@dataclass(frozen=True)
class LlamaFactoryDataset:
    """A local dataset named in a dataset_info.json: its file and how to read it."""

    name: str
    path: Path
    schema: RecordSchema


def load_dataset_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed dataset_info.json (a JSON object of dataset name → entry)."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _invalid(f"cannot read {Path(path).name}: {err}") from err
    if not isinstance(info, dict):
        raise _invalid(f"{Path(path).name} must be a JSON object of dataset entries")
    return info


def llamafactory_dataset(
    dataset_info: Mapping[str, Any], name: str, dataset_dir: str | os.PathLike[str]
) -> LlamaFactoryDataset:
    """Resolve entry `name`: its file (relative to `dataset_dir`, the folder holding
    dataset_info.json) and its schema. Hub and script entries are refused: Tuneloop reads
    local files only."""
    entry = dataset_info.get(name)
    if not isinstance(entry, Mapping):
        known = ", ".join(sorted(dataset_info)[:10])
        raise _invalid(f"dataset '{name}' is not in dataset_info.json (it has: {known}, …)")
    if hub := [key for key in HUB_KEYS if key in entry]:
        raise _invalid(
            f"dataset '{name}' is loaded from a hub or script ({hub[0]}: {entry[hub[0]]}); "
            "Tuneloop reads local files only: download it and point 'file_name' at the file"
        )
    schema = llamafactory_schema(entry, name)  # what the data is matters before where
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise _invalid(f"dataset '{name}' has no 'file_name'")
    root = Path(dataset_dir).resolve()
    path = (root / file_name).resolve()
    if not path.is_relative_to(root):
        raise _invalid(f"dataset '{name}': file_name '{file_name}' is outside {root}")
    if path.is_dir():
        raise _invalid(f"dataset '{name}': '{file_name}' is a folder; name one JSON file")
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise _invalid(f"dataset '{name}': only .json and .jsonl files are supported")
    if not path.is_file():
        raise _invalid(f"dataset '{name}': file '{file_name}' does not exist in {root}")
    return LlamaFactoryDataset(name, path, schema)


def llamafactory_schema(entry: Mapping[str, Any], name: str) -> RecordSchema:
    """The schema entry `name`'s `formatting`, `columns` and `tags` describe."""
    formatting = entry.get("formatting", "alpaca")
    columns = _str_map(entry, "columns", name)
    for key, what in UNSUPPORTED_COLUMNS.items():
        if columns is not None and columns.get(key):
            raise _invalid(f"dataset '{name}' has {what} ('{key}' column), which is not supported")

    def column(key: str, default: str | None) -> str | None:
        return default if columns is None else columns.get(key)

    chosen, rejected = column("chosen", None), column("rejected", None)
    answers = (chosen, rejected) if chosen and rejected else None
    ranking = bool(entry.get("ranking"))
    if ranking and answers is None:
        raise _invalid(
            f"dataset '{name}' is a preference (ranking) dataset, but its 'columns' do not "
            "name both 'chosen' and 'rejected'"
        )
    if not ranking and (chosen or rejected):
        raise _invalid(
            f"dataset '{name}' has 'chosen'/'rejected' columns but is not marked "
            '"ranking": true; add it to read the file as preference pairs'
        )
    tools = column("tools", None)
    if formatting == "alpaca":
        if tools:
            raise _invalid(f"dataset '{name}' has tool definitions, which are not supported yet")
        if answers:  # a ranking entry
            return AlpacaPairSchema(
                prompt=column("prompt", "instruction"),
                query=column("query", "input"),
                chosen=answers[0],
                rejected=answers[1],
                system=column("system", None),
                history=column("history", None),
            )
        response = column("response", "output")
        if response is None:
            raise _invalid(
                f"dataset '{name}' has no 'response' column: text-only (pretraining) data "
                "cannot be used for fine-tuning"
            )
        return AlpacaSchema(
            prompt=column("prompt", "instruction"),
            query=column("query", "input"),
            response=response,
            system=column("system", None),
            history=column("history", None),
        )
    if formatting != "sharegpt":
        raise _invalid(f"dataset '{name}': formatting {formatting!r} is not alpaca or sharegpt")
    messages = column("messages", "conversations")
    if messages is None:
        raise _invalid(f"dataset '{name}' has no 'messages' column")
    given = _str_map(entry, "tags", name)
    tags = DEFAULT_TAGS if given is None else given
    if not all(tags.get(key) for key in ("role_tag", "content_tag", "user_tag", "assistant_tag")):
        raise _invalid(
            f"dataset '{name}': tags must name role_tag, content_tag, user_tag, assistant_tag"
        )
    chat = ChatSchema(
        format=DatasetFormat.SHAREGPT,
        messages=messages,
        role_tag=tags["role_tag"],
        content_tag=tags["content_tag"],
        user_tags=(tags["user_tag"],),
        assistant_tags=(tags["assistant_tag"],),
        system_tags=_tags(tags, "system_tag"),
        tool_tags=_tags(tags, "function_tag", "observation_tag"),
        system=column("system", None),
        tools=(tools,) if tools else (),
    )
    if answers:  # a ranking entry
        return ChatPairSchema(chats=(chat,), chosen=answers[0], rejected=answers[1])
    return chat


def llamafactory_entry(
    fmt: DatasetFormat, file_name: str, *, system: bool = False, history: bool = False
) -> dict[str, Any]:
    """The dataset_info.json entry for a file Tuneloop wrote in format `fmt`. For Alpaca,
    `system`/`history` say whether any record has those keys: LLaMA-Factory fails on a
    mapped column that no record carries. LLaMA-Factory ignores OpenAI `weight`s."""
    if fmt.kind is not DatasetKind.SFT:
        raise ValueError(f"no dataset_info.json entry is written for {fmt.value} files")
    if fmt is DatasetFormat.ALPACA:
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        columns |= {"system": "system"} if system else {}
        columns |= {"history": "history"} if history else {}
        return {"file_name": file_name, "formatting": "alpaca", "columns": columns}
    if fmt is DatasetFormat.PROMPT_COMPLETION:
        columns = {"prompt": "prompt", "response": "completion"}
        return {"file_name": file_name, "formatting": "alpaca", "columns": columns}
    if fmt is DatasetFormat.SHAREGPT:  # the system prompt is the first turn, tags default
        columns = {"messages": "conversations"}
        return {"file_name": file_name, "formatting": "sharegpt", "columns": columns}
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": dict(OPENAI_TAGS),
    }


def _str_map(entry: Mapping[str, Any], key: str, name: str) -> dict[str, str] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str) or v is None for v in value.values()
    ):
        raise _invalid(f"dataset '{name}': '{key}' must map names to strings")
    return {k: v for k, v in value.items() if v is not None}


def _tags(tags: Mapping[str, str], *keys: str) -> tuple[str, ...]:
    return tuple(tags[key] for key in keys if tags.get(key))


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, code="invalid_dataset_info")
