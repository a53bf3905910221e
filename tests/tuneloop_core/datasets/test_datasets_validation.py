"""Validation reports: every bad-record reason with its exact line, file-level errors,
duplicates, length and token statistics, and the error the fine-tuning API raises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from support.tiny_model import build_tiny_model
from tuneloop_core.datasets import (
    Container,
    DatasetFormat,
    IssueCode,
    TokenCounter,
    load_conversations,
    raise_for_report,
    read_dataset,
    validate_dataset,
)
from tuneloop_core.errors import InvalidRequestError


def jsonl_line(record: Any) -> bytes:
    return (record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)).encode()


def write_lines(path: Path, lines: list[Any]) -> Path:
    """Each item is one line: a record to dump, a raw string, or raw bytes."""
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else jsonl_line(x)) + b"\n" for x in lines)
    )
    return path


def msgs(*pairs: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in pairs], **extra}


GOOD = {"instruction": "問題", "input": "", "output": "答案"}


def test_every_record_reason_with_its_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "alpaca.jsonl",
        [
            GOOD,  # 1
            '{"instruction": "q", "output": ',  # 2
            "[1, 2]",  # 3
            "{}",  # 4
            {"instruction": "q", "input": ""},  # 5
            {"instruction": "q", "input": "", "output": 5},  # 6
            {"instruction": "q", "input": "", "output": "   "},  # 7
            b'{"instruction": "\xff\xfe", "output": "a"}',  # 8
            "",  # 9: blank, not a record
            {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
            {"instruction": "q", "input": "", "output": "a", "history": [["only one"]]},  # 11
            GOOD,  # 12: a duplicate of line 1
        ],
    )
    report = validate_dataset(path)

    assert [(i.line, i.code) for i in report.issues] == [
        (2, IssueCode.NOT_JSON),
        (3, IssueCode.NOT_OBJECT),
        (4, IssueCode.EMPTY_OBJECT),
        (5, IssueCode.MISSING_FIELD),
        (6, IssueCode.WRONG_TYPE),
        (7, IssueCode.EMPTY_CONTENT),
        (8, IssueCode.NOT_UTF8),
        (10, IssueCode.MIXED_FORMAT),
        (11, IssueCode.WRONG_TYPE),
    ]
    messages = {i.line: i.message for i in report.issues}
    assert messages[2].startswith("not JSON: ")
    assert messages[3] == "not a JSON object"
    assert messages[4] == "empty object"
    assert messages[5] == "missing 'output'"
    assert messages[6] == "'output' must be a string, not a number"
    assert messages[7] == "turn 2 (assistant) has empty content"
    assert messages[8] == "not UTF-8 text"
    assert "history" in messages[11]
    assert (report.format, report.container) == (DatasetFormat.ALPACA, Container.JSONL)
    assert (report.records, report.valid, report.duplicates) == (11, 2, 1)
    assert not report.ok and report.error is None


def test_conversation_structure_reasons(tmp_path: Path) -> None:
    u, a, s = "user", "assistant", "system"
    path = write_lines(
        tmp_path / "chat.jsonl",
        [
            msgs((s, "sys"), (u, "q"), (a, "a")),  # 1
            msgs((u, "q")),  # 2
            msgs((u, "q"), (a, "a"), (u, "q2")),  # 3
            msgs((u, "q"), (u, "q2"), (a, "a")),  # 4
            msgs((u, "q"), ("bot", "a")),  # 5
            {  # 6
                "messages": [
                    {"role": u, "content": "q"},
                    {"role": a, "content": "a", "weight": 0},
                    {"role": u, "content": "q2"},
                    {"role": a, "content": "a2", "weight": 0},
                ]
            },
            msgs((a, "hello"), (u, "q"), (a, "a")),  # 7
            msgs((u, "q"), (a, "a"), (s, "late system"), (u, "q"), (a, "a")),  # 8
            {"messages": [{"role": u, "content": "q", "weight": 1}, {"role": a, "content": "a"}]},
            {"messages": [{"role": u, "content": "q"}, {"role": a, "content": "a", "weight": 2}]},
            {"messages": []},  # 11
            {"messages": "q"},  # 12
            {"messages": [{"role": u, "content": "q"}, {"role": a}]},  # 13
            {"messages": [{"role": u, "content": 3}, {"role": a, "content": "a"}]},  # 14
            msgs((u, "q"), (a, "a"), (u, "q"), (a, "a")),  # 15
        ],
    )
    report = validate_dataset(path)

    codes = {i.line: i.code for i in report.issues}
    assert codes == {
        2: IssueCode.NO_ASSISTANT_TURN,
        3: IssueCode.LAST_TURN_NOT_ASSISTANT,
        4: IssueCode.ROLES_NOT_ALTERNATING,
        5: IssueCode.UNKNOWN_ROLE,
        6: IssueCode.ALL_WEIGHTS_ZERO,
        7: IssueCode.ROLES_NOT_ALTERNATING,
        8: IssueCode.ROLES_NOT_ALTERNATING,
        9: IssueCode.WRONG_TYPE,
        10: IssueCode.WRONG_TYPE,
        11: IssueCode.EMPTY_CONTENT,
        12: IssueCode.WRONG_TYPE,
        13: IssueCode.MISSING_FIELD,
        14: IssueCode.WRONG_TYPE,
    }
    messages = {i.line: i.message for i in report.issues}
    assert messages[2] == "no assistant turn"
    assert messages[3] == "the last turn is from the user, not the assistant"
    assert (
        messages[4] == "roles do not alternate user/assistant: turn 2 is user, expected assistant"
    )
    assert messages[5].startswith("turn 2 has unknown role 'bot'")
    assert (
        messages[7] == "roles do not alternate user/assistant: turn 1 is assistant, expected user"
    )
    assert "a system turn may only come first" in messages[8]
    assert messages[9] == "turn 1: 'weight' is only allowed on assistant messages"
    assert messages[10] == "turn 2: 'weight' must be 0 or 1, not 2"
    assert messages[13] == "turn 2 has no 'content'"
    assert (report.records, report.valid, report.format) == (15, 2, DatasetFormat.OPENAI)


def test_sharegpt_reasons(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "s.jsonl",
        [
            {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
            {"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]},
            {"conversations": [{"from": "human", "value": "q"}, {"value": "a"}]},
            {"conversations": [{"from": "gpt", "value": "a"}]},
            {"conversations": ["q", "a"]},
        ],
    )
    report = validate_dataset(path)
    assert [(i.line, i.code) for i in report.issues] == [
        (2, IssueCode.UNKNOWN_ROLE),
        (3, IssueCode.MISSING_FIELD),
        (4, IssueCode.ROLES_NOT_ALTERNATING),
        (5, IssueCode.WRONG_TYPE),
    ]
    assert "expected one of: human, user, gpt, assistant, system" in report.issues[0].message


def test_broken_json_array_points_at_the_record(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        '[\n  {"prompt": "p", "completion": "c"},\n  {"prompt": "p" "completion": "c"},\n'
        '  {"prompt": "p", "completion": "c"}\n]\n',
        "utf-8",
    )
    report = validate_dataset(path)
    [issue] = report.issues
    assert (issue.record, issue.line, issue.code) == (2, 3, IssueCode.NOT_JSON)
    assert "line 3 column 18" in issue.message and "rest of the array was not read" in issue.message
    assert (report.records, report.valid) == (2, 1)

    trailing = tmp_path / "trailing.json"
    trailing.write_text('[{"prompt": "p", "completion": "c"}] extra', "utf-8")
    [issue] = validate_dataset(trailing).issues
    assert issue.code is IssueCode.NOT_JSON and "extra data" in issue.message


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf \n\n\t", "the file is empty"),
        (b"[ ]", "the file is an empty JSON array"),
        (b'{"a": 1}\nnot json\n', "no valid record: all 2 records have errors"),
    ],
)
def test_empty_or_hopeless_files_are_error_reports(
    tmp_path: Path, content: bytes, error: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    report = validate_dataset(path)
    assert report.error == error
    assert not report.ok
    assert report.valid == 0 and report.chars is None and report.tokens is None
    with pytest.raises(InvalidRequestError) as caught:
        raise_for_report(report)
    assert caught.value.message.startswith(error)


def test_report_is_json_for_the_gateway(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ok.jsonl", [GOOD, {"instruction": "q"}])
    dumped = json.loads(validate_dataset(path).model_dump_json())
    assert dumped["ok"] is False
    assert dumped["format"] == "alpaca" and dumped["container"] == "jsonl"
    assert dumped["issues"] == [
        {"line": 2, "record": 2, "code": "missing_field", "message": "missing 'output'"}
    ]


def test_raise_for_report_quotes_the_first_bad_lines(tmp_path: Path) -> None:
    lines: list[Any] = [GOOD] * 20
    for n in (3, 9, 11, 12, 15):
        lines[n - 1] = {"instruction": "q", "input": ""}
    report = validate_dataset(write_lines(tmp_path / "t.jsonl", lines))
    with pytest.raises(InvalidRequestError) as caught:
        raise_for_report(report)
    err = caught.value
    assert (err.param, err.code, err.http_status) == ("training_file", "invalid_file_format", 400)
    assert err.message == (
        "5 of 20 records are invalid (detected format: alpaca): line 3: missing 'output'; "
        "line 9: missing 'output'; line 11: missing 'output'; and 2 more"
    )
    raise_for_report(validate_dataset(write_lines(tmp_path / "good.jsonl", [GOOD])))


def test_load_conversations_refuses_a_file_with_errors(tmp_path: Path) -> None:
    good = write_lines(tmp_path / "good.jsonl", [GOOD, GOOD])
    assert len(load_conversations(good)) == 2
    bad = write_lines(tmp_path / "bad.jsonl", [GOOD, {"instruction": "q"}])
    with pytest.raises(InvalidRequestError, match="line 2: missing 'output'") as caught:
        load_conversations(bad, param="validation_file")
    assert caught.value.param == "validation_file"


def test_duplicates_and_character_statistics(tmp_path: Path) -> None:
    def pair(q: str, a: str) -> dict[str, str]:
        return {"instruction": q, "input": "", "output": a}

    # characters per example: instruction + output (10, 20, 30, 20, 100)
    lines = [pair("q" * 5, "a" * 5), pair("q" * 10, "a" * 10), pair("q" * 15, "a" * 15)]
    lines += [pair("q" * 10, "a" * 10), pair("q" * 50, "a" * 50)]
    lines.append({"instruction": "q" * 5, "input": "i", "output": "a" * 5})  # 5+1+1+5 = 12
    report = validate_dataset(write_lines(tmp_path / "d.jsonl", lines))

    assert report.duplicates == 1
    assert report.chars is not None
    assert report.chars.model_dump() == {"min": 10, "mean": 32.0, "p50": 20, "p95": 100, "max": 100}
    # a weight change makes a different conversation, a different line does not
    weighted = write_lines(
        tmp_path / "w.jsonl",
        [
            msgs(("user", "q"), ("assistant", "a")),
            msgs(("user", "q"), ("assistant", "a")),
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        ],
    )
    assert validate_dataset(weighted).duplicates == 2


def word_level_tokenizer() -> Tokenizer:
    vocab = {"[UNK]": 0, "q": 1, "w": 2}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


def sized(words: int) -> dict[str, str]:
    """An example of exactly `words` whitespace-separated words (1 in the instruction)."""
    return {"instruction": "q", "input": "", "output": " ".join(["w"] * (words - 1))}


SIZES = [10, 64, 65, 200, 3000, 129]


@pytest.mark.parametrize("wrapped", [False, True])
def test_token_statistics_and_histogram(tmp_path: Path, wrapped: bool) -> None:
    raw = word_level_tokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw) if wrapped else raw
    path = write_lines(tmp_path / "t.jsonl", [sized(n) for n in SIZES])

    report = validate_dataset(path, tokenizer=tokenizer, max_length=128)

    assert report.tokens is not None
    assert report.tokens.lengths.model_dump() == {
        "min": 10,
        "mean": round(sum(SIZES) / len(SIZES), 2),
        "p50": 65,
        "p95": 3000,
        "max": 3000,
    }
    assert [(b.label, b.count) for b in report.tokens.histogram] == [
        ("≤64", 2),
        ("≤128", 1),
        ("≤256", 2),
        ("≤512", 0),
        ("≤1024", 0),
        ("≤2048", 0),
        (">2048", 1),
    ]
    assert (report.tokens.max_length, report.tokens.over_max_length) == (128, 3)
    no_limit = validate_dataset(path, tokenizer=tokenizer)
    assert no_limit.tokens is not None and no_limit.tokens.over_max_length is None
    assert validate_dataset(path).tokens is None


def test_tokens_counted_through_the_chat_template(tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "tiny"))
    assert tokenizer.chat_template
    lines = [
        msgs(("system", "公文的主旨"), ("user", "Hello world"), ("assistant", "hello model")),
        msgs(("user", "The quick brown fox " * 30), ("assistant", "jumps over the lazy dog")),
    ]
    path = write_lines(tmp_path / "c.jsonl", lines)
    expected = []
    for conversation in read_dataset(path).conversations:
        ids = tokenizer.apply_chat_template(conversation.messages(), tokenize=True)["input_ids"]
        expected.append(len(ids))

    report = validate_dataset(path, tokenizer=tokenizer, max_length=100)

    assert report.tokens is not None
    assert (report.tokens.lengths.min, report.tokens.lengths.max) == (min(expected), max(expected))
    assert report.tokens.over_max_length == sum(n > 100 for n in expected)
    counted = TokenCounter(tokenizer).count(read_dataset(path).conversations)
    assert counted == expected
