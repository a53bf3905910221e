"""LLaMA-Factory dataset_info.json entries written here: `columns` and `tags` mappings with
LLaMA-Factory's own semantics, and the entries Tuneloop refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuneloop_core.datasets import (
    IssueCode,
    Role,
    Turn,
    llamafactory_dataset,
    load_dataset_info,
    read_dataset,
    validate_dataset,
)
from tuneloop_core.errors import InvalidRequestError

S, U, A = Role.SYSTEM, Role.USER, Role.ASSISTANT


def setup(tmp_path: Path, entry: dict[str, Any], records: list[Any]) -> Path:
    (tmp_path / "data.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    info = {"mine": {"file_name": "data.json", **entry}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info), "utf-8")
    return tmp_path / "dataset_info.json"


def read(info_path: Path, name: str = "mine") -> tuple[list[tuple[Turn, ...]], list[str]]:
    dataset = llamafactory_dataset(load_dataset_info(info_path), name, info_path.parent)
    data = read_dataset(dataset.path, schema=dataset.schema)
    return [c.turns for c in data.conversations], [str(i) for i in data.issues]


def test_alpaca_columns_mapping(tmp_path: Path) -> None:
    entry = {
        "columns": {
            "prompt": "q",
            "query": "ctx",
            "response": "a",
            "system": "sys",
            "history": "hist",
        }
    }
    records = [
        {"q": "Sum", "ctx": "1 2", "a": "3", "sys": "Maths.", "hist": [["hi", "hello"]]},
        {"q": "Only", "a": "yes", "sys": None, "hist": None},
        {"q": "Missing answer"},
    ]
    conversations, issues = read(setup(tmp_path, entry, records))
    assert conversations == [
        (Turn(S, "Maths."), Turn(U, "hi"), Turn(A, "hello"), Turn(U, "Sum\n1 2"), Turn(A, "3")),
        (Turn(U, "Only"), Turn(A, "yes")),
    ]
    assert issues == ["record 3 (line 1): missing 'a'"]


def test_alpaca_without_columns_ignores_system_like_llamafactory(tmp_path: Path) -> None:
    # LLaMA-Factory's defaults map no system or history column, so it trains without them.
    records = [{"instruction": "q", "input": "", "output": "a", "system": "ignored"}]
    conversations, _ = read(setup(tmp_path, {}, records))
    assert conversations == [(Turn(U, "q"), Turn(A, "a"))]


def test_sharegpt_tags_mapping(tmp_path: Path) -> None:
    entry = {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }
    records = [
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "A"},
            ]
        },
        {"messages": [{"role": "human", "content": "Q"}, {"role": "assistant", "content": "A"}]},
    ]
    conversations, issues = read(setup(tmp_path, entry, records))
    assert conversations == [(Turn(S, "S"), Turn(U, "Q"), Turn(A, "A"))]
    assert len(issues) == 1 and "unknown role 'human'" in issues[0]


def test_unnamed_tags_are_unset_not_defaulted(tmp_path: Path) -> None:
    # mllm_demo-style tags without system_tag: a "system" turn is not recognised.
    entry = {
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "system": "system"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }
    records = [
        {
            "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
            "system": "From the column.",
        },
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]},
    ]
    path = setup(tmp_path, entry, records)
    conversations, _ = read(path)
    assert conversations == [(Turn(S, "From the column."), Turn(U, "Q"), Turn(A, "A"))]
    dataset = llamafactory_dataset(load_dataset_info(path), "mine", tmp_path)
    report = validate_dataset(dataset.path, schema=dataset.schema)
    assert [(i.record, i.code) for i in report.issues] == [(2, IssueCode.UNKNOWN_ROLE)]


def test_default_sharegpt_tags_are_human_and_gpt(tmp_path: Path) -> None:
    records = [
        {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
        {"conversations": [{"from": "user", "value": "Q"}, {"from": "gpt", "value": "A"}]},
    ]
    conversations, issues = read(setup(tmp_path, {"formatting": "sharegpt"}, records))
    assert conversations == [(Turn(U, "Q"), Turn(A, "A"))]
    assert len(issues) == 1 and "unknown role 'user'" in issues[0]


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"hf_hub_url": "org/name"}, "reads local files only"),
        ({"ms_hub_url": "org/name"}, "reads local files only"),
        ({"script_url": "folder"}, "reads local files only"),
        ({"ranking": True, "formatting": "sharegpt"}, "preference (ranking)"),
        ({"formatting": "sharegpt", "columns": {"messages": "m", "images": "i"}}, "images"),
        ({"columns": {"prompt": "text"}}, "no 'response' column"),
        ({"formatting": "openai"}, "not alpaca or sharegpt"),
        ({"formatting": "sharegpt", "tags": {"role_tag": "role"}}, "tags must name"),
        ({"file_name": "../outside.json"}, "outside"),
        ({"file_name": "absent.json"}, "does not exist"),
        ({"file_name": "data.parquet"}, "only .json and .jsonl"),
        ({"file_name": "folder.json"}, "is a folder"),
    ],
)
def test_entries_refused_with_a_clear_message(
    tmp_path: Path, entry: dict[str, Any], needle: str
) -> None:
    (tmp_path / "folder.json").mkdir()
    info_path = setup(tmp_path, entry, [{"instruction": "q", "output": "a"}])
    with pytest.raises(InvalidRequestError) as caught:
        llamafactory_dataset(load_dataset_info(info_path), "mine", tmp_path)
    assert needle in caught.value.message
    assert caught.value.code == "invalid_dataset_info"


def test_unknown_name_and_unreadable_dataset_info(tmp_path: Path) -> None:
    info_path = setup(tmp_path, {}, [])
    with pytest.raises(InvalidRequestError, match=r"'other' is not in dataset_info\.json"):
        llamafactory_dataset(load_dataset_info(info_path), "other", tmp_path)
    info_path.write_text("[1]", "utf-8")
    with pytest.raises(InvalidRequestError, match="must be a JSON object"):
        load_dataset_info(info_path)
    info_path.write_text("{", "utf-8")
    with pytest.raises(InvalidRequestError, match=r"cannot read dataset_info\.json"):
        load_dataset_info(info_path)
