"""Writers: Alpaca JSON, ShareGPT JSON, OpenAI JSONL, prompt/completion JSONL. Reading what
a writer wrote gives the same conversations, directly and through the LLaMA-Factory
dataset_info.json entry the writer returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneloop_core.datasets import (
    Container,
    Conversation,
    DatasetFormat,
    Role,
    Turn,
    llamafactory_dataset,
    read_dataset,
    write_alpaca,
    write_dataset,
    write_openai_jsonl,
    write_sharegpt,
)

S, U, A = Role.SYSTEM, Role.USER, Role.ASSISTANT

SINGLE = Conversation((Turn(U, "函是什麼？"), Turn(A, "機關往來的公文。")))
CONVERSATIONS = [
    SINGLE,
    Conversation((Turn(S, "You are {{name}}."), Turn(U, 'Say "hi"\nthen stop'), Turn(A, "hi"))),
    Conversation(
        (
            Turn(U, "one"),
            Turn(A, "1"),
            Turn(U, "two"),
            Turn(A, "2"),
            Turn(U, "three"),
            Turn(A, "3"),
        )
    ),
    Conversation((Turn(S, "sys"), Turn(U, "q"), Turn(A, "a"), Turn(U, "q2"), Turn(A, "a2"))),
]
WEIGHTED = Conversation((Turn(U, "q"), Turn(A, "draft", weight=0), Turn(U, "again"), Turn(A, "a")))

CASES = [
    (DatasetFormat.ALPACA, CONVERSATIONS, Container.JSON_ARRAY),
    (DatasetFormat.SHAREGPT, CONVERSATIONS, Container.JSON_ARRAY),
    (DatasetFormat.OPENAI, [*CONVERSATIONS, WEIGHTED], Container.JSONL),
    (DatasetFormat.PROMPT_COMPLETION, [SINGLE, SINGLE], Container.JSONL),
]


@pytest.mark.parametrize(("fmt", "conversations", "container"), CASES)
def test_round_trip(
    tmp_path: Path, fmt: DatasetFormat, conversations: list[Conversation], container: Container
) -> None:
    path = tmp_path / f"out.{'jsonl' if container is Container.JSONL else 'json'}"
    write_dataset(conversations, path, fmt)

    data = read_dataset(path)

    assert (data.format, data.container, data.issues) == (fmt, container, [])
    assert data.conversations == conversations
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize(("fmt", "conversations", "container"), CASES)
def test_round_trip_through_the_llamafactory_entry(
    tmp_path: Path, fmt: DatasetFormat, conversations: list[Conversation], container: Container
) -> None:
    entry = write_dataset(conversations, tmp_path / "train_data.json", fmt)
    dataset_info = {"tuneloop_train": entry}
    (tmp_path / "dataset_info.json").write_text(json.dumps(dataset_info, indent=2), "utf-8")

    dataset = llamafactory_dataset(dataset_info, "tuneloop_train", tmp_path)
    data = read_dataset(dataset.path, schema=dataset.schema)

    assert entry["file_name"] == "train_data.json"
    assert data.issues == []
    # LLaMA-Factory has no per-message weights: through its entry every answer is trained on
    assert data.conversations == [
        Conversation(tuple(Turn(t.role, t.content) for t in c.turns)) for c in conversations
    ]


def test_alpaca_records_and_entry_look_like_llamafactory_expects(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    plain = write_alpaca([SINGLE], path)
    assert json.loads(path.read_text("utf-8")) == [
        {"instruction": "函是什麼？", "input": "", "output": "機關往來的公文。"}
    ]
    # no record has system/history: mapping those columns would break LLaMA-Factory
    assert plain == {
        "file_name": "a.json",
        "formatting": "alpaca",
        "columns": {"prompt": "instruction", "query": "input", "response": "output"},
    }
    full = write_alpaca(CONVERSATIONS, path)
    assert full["columns"]["system"] == "system" and full["columns"]["history"] == "history"
    third = json.loads(path.read_text("utf-8"))[2]
    assert third == {
        "instruction": "three",
        "input": "",
        "output": "3",
        "history": [["one", "1"], ["two", "2"]],
    }


def test_sharegpt_and_openai_shapes(tmp_path: Path) -> None:
    entry = write_sharegpt([CONVERSATIONS[1]], tmp_path / "s.json")
    [record] = json.loads((tmp_path / "s.json").read_text("utf-8"))
    assert [t["from"] for t in record["conversations"]] == ["system", "human", "gpt"]
    assert entry == {
        "file_name": "s.json",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
    }
    entry = write_openai_jsonl([WEIGHTED], tmp_path / "o.jsonl")
    [line] = (tmp_path / "o.jsonl").read_text("utf-8").splitlines()
    assert json.loads(line)["messages"][1] == {"role": "assistant", "content": "draft", "weight": 0}
    assert entry["tags"]["role_tag"] == "role" and entry["columns"] == {"messages": "messages"}


def test_writers_refuse_what_a_format_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    with pytest.raises(ValueError, match="conversation 2: Alpaca cannot carry assistant weights"):
        write_alpaca([SINGLE, WEIGHTED], path)
    with pytest.raises(ValueError, match="conversation 1: no assistant turn"):
        write_sharegpt([Conversation((Turn(U, "q"),))], path)
    with pytest.raises(ValueError, match="exactly one user and one assistant"):
        write_dataset([CONVERSATIONS[2]], path, DatasetFormat.PROMPT_COMPLETION)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_writers_take_a_generator(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    write_openai_jsonl((c for c in CONVERSATIONS), path)
    assert read_dataset(path).conversations == CONVERSATIONS
