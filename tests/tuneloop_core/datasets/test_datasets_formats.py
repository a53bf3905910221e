"""Reading every accepted format from files written here: Alpaca, ShareGPT, OpenAI
messages, prompt/completion; JSON array vs JSONL; BOM; format detection and mixed files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuneloop_core.datasets import (
    Container,
    Conversation,
    DatasetFormat,
    DatasetStream,
    IssueCode,
    Role,
    Turn,
    read_dataset,
)
from tuneloop_core.datasets.schemas import NATIVE_SCHEMAS

S, U, A = Role.SYSTEM, Role.USER, Role.ASSISTANT


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def write_array(path: Path, records: list[Any]) -> Path:
    """One element per line after the opening bracket: element i starts on line i + 1."""
    body = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text(f"[\n{body}\n]\n", "utf-8")
    return path


def turns(*pairs: tuple[Role, str]) -> tuple[Turn, ...]:
    return tuple(Turn(role, text) for role, text in pairs)


def test_alpaca_json_array(tmp_path: Path) -> None:
    records = [
        {"instruction": "什麼是函？", "input": "", "output": "機關往來的公文。"},
        {"instruction": "Translate", "input": "bonjour", "output": "hello"},
        {"instruction": "Only instruction", "output": "no input key is fine"},
        {
            "instruction": "And now?",
            "input": "",
            "output": "Third answer.",
            "system": "You are terse.",
            "history": [["Hi", "Hello."], ["How are you?", "Fine."]],
        },
        {"instruction": "q", "input": None, "output": "a", "system": ""},
    ]
    data = read_dataset(write_array(tmp_path / "a.json", records))

    assert (data.format, data.container, data.records, data.issues) == (
        DatasetFormat.ALPACA,
        Container.JSON_ARRAY,
        5,
        [],
    )
    got = [c.turns for c in data.conversations]
    assert got == [
        turns((U, "什麼是函？"), (A, "機關往來的公文。")),
        turns((U, "Translate\nbonjour"), (A, "hello")),
        turns((U, "Only instruction"), (A, "no input key is fine")),
        turns(
            (S, "You are terse."),
            (U, "Hi"),
            (A, "Hello."),
            (U, "How are you?"),
            (A, "Fine."),
            (U, "And now?"),
            (A, "Third answer."),
        ),
        turns((U, "q"), (A, "a")),
    ]
    assert [(c.record, c.line) for c in data.conversations] == [(i, i + 1) for i in range(1, 6)]
    assert all(t.weight == 1 for c in data.conversations for t in c.turns if t.role is A)


def test_sharegpt_jsonl(tmp_path: Path) -> None:
    records = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {
            "system": "Be kind.",
            "conversations": [
                {"from": "user", "value": "1"},
                {"from": "assistant", "value": "2"},
                {"from": "human", "value": "3"},
                {"from": "gpt", "value": "4"},
            ],
        },
        {
            "conversations": [
                {"from": "system", "value": "Sys in a turn."},
                {"from": "human", "value": "Q"},
                {"from": "gpt", "value": "A"},
            ],
            "tools": "[]",  # LLaMA-Factory's tool datasets write "no tools" like this
        },
    ]
    data = read_dataset(write_jsonl(tmp_path / "s.jsonl", records))

    assert (data.format, data.container, data.issues) == (
        DatasetFormat.SHAREGPT,
        Container.JSONL,
        [],
    )
    assert [c.turns for c in data.conversations] == [
        turns((U, "Hi"), (A, "Hello")),
        turns((S, "Be kind."), (U, "1"), (A, "2"), (U, "3"), (A, "4")),
        turns((S, "Sys in a turn."), (U, "Q"), (A, "A")),
    ]
    assert [c.line for c in data.conversations] == [1, 2, 3]


def test_openai_messages_with_parts_and_weights(tmp_path: Path) -> None:
    records = [
        {
            "messages": [
                {"role": "system", "content": "Marv is sarcastic."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris, obviously.", "weight": 0},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "And"},
                        {"type": "text", "text": "Spain?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "Madrid."}],
                    "weight": 1,
                },
            ]
        },
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
    ]
    data = read_dataset(write_jsonl(tmp_path / "o.jsonl", records))

    assert (data.format, data.issues) == (DatasetFormat.OPENAI, [])
    first = data.conversations[0]
    assert first.turns == (
        Turn(S, "Marv is sarcastic."),
        Turn(U, "Capital of France?"),
        Turn(A, "Paris, obviously.", weight=0),
        Turn(U, "And\nSpain?"),
        Turn(A, "Madrid.", weight=1),
    )
    assert first.system == "Marv is sarcastic."
    assert first.answer == "Madrid."
    assert first.prompt_messages()[-1] == {"role": "user", "content": "And\nSpain?"}
    assert data.conversations[1].turns == turns((U, "x"), (A, "y"))


def test_prompt_completion(tmp_path: Path) -> None:
    records = [{"prompt": "2+2=", "completion": "4"}, {"prompt": "Sky?", "completion": "Blue."}]
    data = read_dataset(write_jsonl(tmp_path / "pc.jsonl", records))

    assert (data.format, data.issues) == (DatasetFormat.PROMPT_COMPLETION, [])
    assert [c.turns for c in data.conversations] == [
        turns((U, "2+2="), (A, "4")),
        turns((U, "Sky?"), (A, "Blue.")),
    ]


@pytest.mark.parametrize("as_array", [True, False])
def test_utf8_bom_is_accepted(tmp_path: Path, as_array: bool) -> None:
    path = tmp_path / "bom.json"
    records = [{"instruction": "問", "input": "", "output": "答"}] * 2
    (write_array if as_array else write_jsonl)(path, records)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    data = read_dataset(path)

    assert data.issues == []
    assert data.container is (Container.JSON_ARRAY if as_array else Container.JSONL)
    assert [c.turns for c in data.conversations] == [turns((U, "問"), (A, "答"))] * 2
    assert data.conversations[0].line == (2 if as_array else 1)


def test_container_detected_from_first_character_not_extension(tmp_path: Path) -> None:
    record = {"prompt": "p", "completion": "c"}
    array = tmp_path / "array.jsonl"
    array.write_text("\n\n   " + json.dumps([record, record], indent=4), "utf-8")
    lines = tmp_path / "lines.json"
    lines.write_text(f"\n{json.dumps(record)}\n\n  {json.dumps(record)}\n\n", "utf-8")

    from_array, from_lines = read_dataset(array), read_dataset(lines)

    assert from_array.container is Container.JSON_ARRAY
    assert [(c.record, c.line) for c in from_array.conversations] == [(1, 4), (2, 8)]
    assert from_lines.container is Container.JSONL
    # blank lines are skipped but never renumber the records
    assert [c.line for c in from_lines.conversations] == [2, 4]
    assert from_lines.records == 2


def test_pretty_printed_array_reports_the_line_each_record_starts(tmp_path: Path) -> None:
    records = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(4)]
    records[2] = {"instruction": "q2", "input": ""}  # missing output
    path = tmp_path / "pretty.json"
    text = json.dumps(records, indent=2, ensure_ascii=False)
    path.write_text(text, "utf-8")
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line == "  {"]

    data = read_dataset(path)

    assert [c.line for c in data.conversations] == [starts[0], starts[1], starts[3]]
    [issue] = data.issues
    assert (issue.record, issue.line, issue.code) == (3, starts[2], IssueCode.MISSING_FIELD)
    assert str(issue) == f"record 3 (line {starts[2]}): missing 'output'"


def test_mixed_formats_name_the_lines_that_differ(tmp_path: Path) -> None:
    alpaca = {"instruction": "q", "input": "", "output": "a"}
    sharegpt = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    openai = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    records = [alpaca, alpaca, alpaca, sharegpt, alpaca, openai, {"prompt": "p", "completion": "c"}]
    data = read_dataset(write_jsonl(tmp_path / "mixed.jsonl", records))

    assert data.format is DatasetFormat.ALPACA
    assert [(i.line, i.code) for i in data.issues] == [
        (4, IssueCode.MIXED_FORMAT),
        (6, IssueCode.MIXED_FORMAT),
        (7, IssueCode.MIXED_FORMAT),
    ]
    assert "ShareGPT" in data.issues[0].message and "Alpaca" in data.issues[0].message
    assert [c.line for c in data.conversations] == [1, 2, 3, 5]


def test_detection_takes_the_majority_of_the_first_records(tmp_path: Path) -> None:
    openai = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    alpaca = {"instruction": "q", "input": "", "output": "a"}
    data = read_dataset(write_jsonl(tmp_path / "f.jsonl", [openai, alpaca, alpaca, alpaca]))

    assert data.format is DatasetFormat.ALPACA
    assert [(i.line, i.code) for i in data.issues] == [(1, IssueCode.MIXED_FORMAT)]


def test_records_without_known_keys(tmp_path: Path) -> None:
    alpaca = {"instruction": "q", "input": "", "output": "a"}
    data = read_dataset(write_jsonl(tmp_path / "a.jsonl", [alpaca, {"text": "hello"}]))
    assert [(i.line, str(i)) for i in data.issues] == [(2, "line 2: missing 'instruction'")]

    unknown = read_dataset(write_jsonl(tmp_path / "u.jsonl", [{"text": "a"}, {"text": "b"}]))
    assert unknown.format is None
    assert [i.code for i in unknown.issues] == [IssueCode.MISSING_FIELD] * 2
    assert "no known dataset fields" in unknown.issues[0].message
    assert "'text'" in unknown.issues[0].message


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        (
            {
                "conversations": [
                    {"from": "human", "value": "weather?"},
                    {"from": "function_call", "value": '{"name": "w"}'},
                ]
            },
            "function calling is not supported",
        ),
        (
            {
                "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
                "tools": '[{"name": "w"}]',
            },
            "tool definitions ('tools') are not supported",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
                ]
            },
            "function calling is not supported",
        ),
        (
            {"messages": [{"role": "tool", "content": "42"}]},
            "function calling is not supported",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {}}]},
                    {"role": "assistant", "content": "a cat"},
                ]
            },
            "only text content parts are supported",
        ),
    ],
)
def test_function_calls_and_images_are_rejected_clearly(
    tmp_path: Path, record: dict[str, Any], needle: str
) -> None:
    data = read_dataset(write_jsonl(tmp_path / "f.jsonl", [record]))
    [issue] = data.issues
    assert issue.code is IssueCode.UNSUPPORTED
    assert needle in issue.message


def test_forced_schema_skips_detection(tmp_path: Path) -> None:
    sharegpt = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    path = write_jsonl(tmp_path / "s.jsonl", [sharegpt])
    data = read_dataset(path, schema=NATIVE_SCHEMAS[DatasetFormat.ALPACA])
    assert data.format is DatasetFormat.ALPACA
    assert [str(i) for i in data.issues] == ["line 1: missing 'instruction'"]


def test_stream_reads_100k_lines(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(100_000):
            message = [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]
            out.write(json.dumps({"messages": message}) + "\n")
    stream = DatasetStream(path)
    count = sum(isinstance(item, Conversation) for item in stream)
    assert (count, stream.records, stream.format) == (100_000, 100_000, DatasetFormat.OPENAI)


def test_turn_and_conversation_helpers() -> None:
    conversation = Conversation.from_messages(
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    )
    assert conversation.messages() == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    assert conversation.system is None
    assert conversation.chars == 2
    assert Turn("user", "x").role is Role.USER  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only assistant turns"):
        Turn(U, "x", weight=1)
    with pytest.raises(ValueError, match="0 or 1"):
        Turn(A, "x", weight=2)
    # where a conversation came from does not change what it is
    assert Conversation(conversation.turns, line=3, record=3) == conversation
