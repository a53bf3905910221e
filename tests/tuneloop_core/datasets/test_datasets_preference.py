"""Preference pairs (DPO): OpenAI's preference JSONL and LLaMA-Factory's Alpaca and ShareGPT
pairwise records, read into `PreferencePair`s; every bad line with its number and reason; a
file holds one kind (conversations or pairs); the writer's lines read back the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tuneloop_core.datasets import (
    NATIVE_SCHEMAS,
    ChatPairSchema,
    Container,
    DatasetFormat,
    DatasetKind,
    IssueCode,
    PreferencePair,
    Role,
    Turn,
    llamafactory_dataset,
    load_conversations,
    load_dataset_info,
    preference_line,
    read_dataset,
    read_preference_pairs,
    require_kind,
    validate_dataset,
    write_dataset,
    write_preference_jsonl,
)
from tuneloop_core.errors import InvalidRequestError

S, U, A = Role.SYSTEM, Role.USER, Role.ASSISTANT


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def openai_pair(
    prompt: str = "公文的主旨是什麼？", chosen: str = "說明目的。", rejected: str = "不知道。"
) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": prompt}]},
        "preferred_output": [{"role": "assistant", "content": chosen}],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }


ALPACA_SFT = {"instruction": "q", "input": "", "output": "a"}


def test_openai_preference_lines(tmp_path: Path) -> None:
    multi_turn = {
        "input": {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            ],
            "tools": [],  # OpenAI's own example carries these
            "parallel_tool_calls": True,
        },
        "preferred_output": [{"role": "assistant", "content": "Sunny."}],
        "non_preferred_output": [{"role": "assistant", "content": "Look outside."}],
    }
    data = read_dataset(write_jsonl(tmp_path / "p.jsonl", [openai_pair(), multi_turn]))

    assert (data.format, data.container, data.issues, data.conversations) == (
        DatasetFormat.OPENAI_PREFERENCE,
        Container.JSONL,
        [],
        [],
    )
    assert data.pairs == [
        PreferencePair((Turn(U, "公文的主旨是什麼？"),), "說明目的。", "不知道。"),
        PreferencePair(
            (Turn(S, "You are terse."), Turn(U, "Hi"), Turn(A, "Hello."), Turn(U, "Weather?")),
            "Sunny.",
            "Look outside.",
        ),
    ]
    second = data.pairs[1]
    assert (second.line, second.system) == (2, "You are terse.")
    assert second.chosen_conversation().turns[-1] == Turn(A, "Sunny.")
    assert second.rejected_conversation().answer == "Look outside."
    assert second.prompt_messages()[-1] == {"role": "user", "content": "Weather?"}


def test_alpaca_pairwise_records(tmp_path: Path) -> None:
    records = [
        {"instruction": "Sum", "input": "1 2", "chosen": "3", "rejected": "12"},
        {
            "instruction": "And now?",
            "chosen": "Fine.",
            "rejected": "No.",
            "system": "Be kind.",
            "history": [["Hi", "Hello."]],
        },
    ]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), "utf-8")
    data = read_dataset(path)

    assert (data.format, data.container, data.issues) == (
        DatasetFormat.ALPACA_PAIRWISE,
        Container.JSON_ARRAY,
        [],
    )
    assert data.pairs == [
        PreferencePair((Turn(U, "Sum\n1 2"),), "3", "12"),
        PreferencePair(
            (Turn(S, "Be kind."), Turn(U, "Hi"), Turn(A, "Hello."), Turn(U, "And now?")),
            "Fine.",
            "No.",
        ),
    ]
    assert [(p.record, p.line) for p in data.pairs] == [(1, 2), (2, 8)]


def test_sharegpt_pairwise_records_in_both_layouts(tmp_path: Path) -> None:
    sharegpt = {
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello."},
            {"from": "human", "value": "Joke?"},
        ],
        "chosen": {"from": "gpt", "value": "A pun."},
        "rejected": {"from": "gpt", "value": "No."},
        "system": "Be funny.",
    }
    messages = {
        "messages": [{"role": "user", "content": "Joke?"}],
        "chosen": {"role": "assistant", "content": "A pun."},
        "rejected": {"role": "assistant", "content": "No."},
    }
    data = read_dataset(write_jsonl(tmp_path / "s.jsonl", [sharegpt, messages]))

    assert (data.format, data.issues) == (DatasetFormat.SHAREGPT_PAIRWISE, [])
    assert data.pairs == [
        PreferencePair(
            (Turn(S, "Be funny."), Turn(U, "Hi"), Turn(A, "Hello."), Turn(U, "Joke?")),
            "A pun.",
            "No.",
        ),
        PreferencePair((Turn(U, "Joke?"),), "A pun.", "No."),
    ]


def msgs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


BAD_LINES = [
    (
        {"input": {"messages": msgs(("user", "q"))}},
        IssueCode.MISSING_FIELD,
        "missing 'preferred_output'",
    ),
    (
        {**openai_pair(), "non_preferred_output": []},
        IssueCode.EMPTY_CONTENT,
        "'non_preferred_output' must hold exactly one assistant message, not 0",
    ),
    (
        {**openai_pair(), "preferred_output": {"role": "assistant", "content": "a"}},
        IssueCode.WRONG_TYPE,
        "'preferred_output' must be a list holding one assistant message, not an object",
    ),
    (
        {**openai_pair(), "preferred_output": msgs(("assistant", "a"), ("assistant", "b"))},
        IssueCode.WRONG_TYPE,
        "'preferred_output' must hold exactly one assistant message, not 2",
    ),
    (
        {**openai_pair(), "preferred_output": msgs(("assistant", "  "))},
        IssueCode.EMPTY_CONTENT,
        "'preferred_output' is empty",
    ),
    (
        {**openai_pair(), "non_preferred_output": msgs(("user", "b"))},
        IssueCode.OUTPUT_NOT_ASSISTANT,
        "'non_preferred_output' is a user message; it must be the assistant's (role: 'assistant')",
    ),
    (
        openai_pair(chosen="Same answer.", rejected=" Same answer.\n"),
        IssueCode.IDENTICAL_OUTPUTS,
        "'preferred_output' and 'non_preferred_output' are the same text, "
        "so there is nothing to prefer",
    ),
    (
        {**openai_pair(), "input": {"messages": msgs(("user", "q"), ("assistant", "a"))}},
        IssueCode.LAST_TURN_NOT_USER,
        "the prompt ends with an assistant turn; it must end with a user turn, "
        "which both answers reply to",
    ),
    (
        {**openai_pair(), "input": {"messages": msgs(("system", "s"))}},
        IssueCode.LAST_TURN_NOT_USER,
        "the prompt ends with a system turn; it must end with a user turn, "
        "which both answers reply to",
    ),
    (
        {**openai_pair(), "input": {"messages": msgs(("user", "q"), ("user", "q2"))}},
        IssueCode.ROLES_NOT_ALTERNATING,
        "roles do not alternate user/assistant: turn 2 is user, expected assistant",
    ),
    (
        {**openai_pair(), "input": "q"},
        IssueCode.WRONG_TYPE,
        "'input' must be an object holding 'messages', not a string",
    ),
    (
        {**openai_pair(), "input": {"prompt": "q"}},
        IssueCode.MISSING_FIELD,
        "'input': missing 'messages'",
    ),
    (
        {**openai_pair(), "input": {"messages": msgs(("user", "q")), "tools": [{"type": "x"}]}},
        IssueCode.UNSUPPORTED,
        "'input': tool definitions ('tools') are not supported yet",
    ),
]


@pytest.mark.parametrize(("record", "code", "message"), BAD_LINES)
def test_each_bad_openai_line_with_its_number(
    tmp_path: Path, record: dict[str, Any], code: IssueCode, message: str
) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [openai_pair(), record, openai_pair("other")])
    report = validate_dataset(path)

    [issue] = report.issues
    assert (issue.line, issue.code) == (2, code)
    assert str(issue).startswith(f"line 2: {message}"), str(issue)
    assert (report.kind, report.valid, report.ok) == (DatasetKind.PREFERENCE, 2, False)
    with pytest.raises(InvalidRequestError, match="line 2: "):
        read_preference_pairs(path)


@pytest.mark.parametrize(
    ("record", "code", "message"),
    [
        ({"instruction": "q", "chosen": "a"}, IssueCode.MISSING_FIELD, "missing 'rejected'"),
        (
            {"instruction": "q", "chosen": "a", "rejected": 3},
            IssueCode.WRONG_TYPE,
            "'rejected' must be a string, not a number",
        ),
        (
            {"instruction": "q", "chosen": "", "rejected": "b"},
            IssueCode.EMPTY_CONTENT,
            "'chosen' is empty",
        ),
        (
            {"instruction": "q", "chosen": "same", "rejected": "same "},
            IssueCode.IDENTICAL_OUTPUTS,
            "'chosen' and 'rejected' are the same text",
        ),
        (
            {"input": "ctx", "chosen": "a", "rejected": "b"},
            IssueCode.MISSING_FIELD,
            "missing 'instruction'",
        ),
    ],
)
def test_each_bad_alpaca_pairwise_line(
    tmp_path: Path, record: dict[str, Any], code: IssueCode, message: str
) -> None:
    good = {"instruction": "q", "chosen": "a", "rejected": "b"}
    [issue] = validate_dataset(write_jsonl(tmp_path / "a.jsonl", [good, good, record])).issues
    assert (issue.line, issue.code) == (3, code)
    assert message in issue.message


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"chosen": "A pun."}, IssueCode.WRONG_TYPE, "'chosen' is a string, not an object"),
        (
            {"rejected": {"from": "human", "value": "No."}},
            IssueCode.OUTPUT_NOT_ASSISTANT,
            "'rejected' is a user message; it must be the assistant's (from: 'gpt')",
        ),
        ({"rejected": {"from": "gpt"}}, IssueCode.MISSING_FIELD, "'rejected' has no 'value'"),
        (
            {"chosen": {"from": "bot", "value": "x"}},
            IssueCode.UNKNOWN_ROLE,
            "'chosen' has unknown role 'bot'",
        ),
        (
            {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
            IssueCode.LAST_TURN_NOT_USER,
            "the prompt ends with an assistant turn",
        ),
    ],
)
def test_each_bad_sharegpt_pairwise_line(
    tmp_path: Path, change: dict[str, Any], code: IssueCode, message: str
) -> None:
    good = {
        "conversations": [{"from": "human", "value": "Joke?"}],
        "chosen": {"from": "gpt", "value": "A pun."},
        "rejected": {"from": "gpt", "value": "No."},
    }
    [issue] = validate_dataset(write_jsonl(tmp_path / "s.jsonl", [good, {**good, **change}])).issues
    assert (issue.line, issue.code) == (2, code)
    assert message in issue.message


def test_a_file_mixing_conversations_and_pairs_is_an_error(tmp_path: Path) -> None:
    lines = [ALPACA_SFT, ALPACA_SFT, openai_pair(), ALPACA_SFT, openai_pair("again")]
    report = validate_dataset(write_jsonl(tmp_path / "mixed.jsonl", lines))

    assert (report.format, report.kind) == (DatasetFormat.ALPACA, DatasetKind.SFT)
    assert report.error == (
        "line 3 is a preference pair, but line 1 is an SFT conversation: "
        "a file holds one kind, SFT conversations or preference pairs"
    )
    assert [(i.line, i.code) for i in report.issues] == [
        (3, IssueCode.MIXED_KIND),
        (5, IssueCode.MIXED_KIND),
    ]
    assert report.issues[0].message == (
        "this record is a preference pair (OpenAI preference), but the file holds SFT "
        "conversations (Alpaca, detected from its first records): a file holds one kind"
    )
    assert report.first_of_kind == {DatasetKind.SFT: "line 1", DatasetKind.PREFERENCE: "line 3"}
    with pytest.raises(InvalidRequestError, match=r"^line 3 is a preference pair"):
        load_conversations(tmp_path / "mixed.jsonl")

    # mostly pairs: the conversation is the odd one out
    pairs_first = [openai_pair(), openai_pair("b"), ALPACA_SFT]
    report = validate_dataset(write_jsonl(tmp_path / "pairs.jsonl", pairs_first))
    assert report.kind is DatasetKind.PREFERENCE
    assert report.error is not None
    assert report.error.startswith("line 3 is an SFT conversation, but line 1 is a preference")


def test_two_preference_formats_in_one_file_are_mixed_formats(tmp_path: Path) -> None:
    alpaca = {"instruction": "q", "chosen": "a", "rejected": "b"}
    report = validate_dataset(write_jsonl(tmp_path / "m.jsonl", [openai_pair(), alpaca]))
    [issue] = report.issues
    assert (issue.line, issue.code) == (2, IssueCode.MIXED_FORMAT)
    assert "Alpaca pairwise" in issue.message and "OpenAI preference" in issue.message


def test_a_dpo_job_on_conversations_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "sft.jsonl", [ALPACA_SFT, ALPACA_SFT])
    report = validate_dataset(path)
    assert report.ok and report.kind is DatasetKind.SFT

    with pytest.raises(InvalidRequestError) as caught:
        require_kind(report, "preference", param="training_file")
    err = caught.value
    assert (err.param, err.code, err.http_status) == ("training_file", "invalid_file_format", 400)
    assert err.message.startswith(
        "'training_file' holds SFT conversations (Alpaca), not preference pairs: "
        "line 1 is not a preference pair. Preference training (method 'dpo') needs"
    )
    with pytest.raises(InvalidRequestError, match="line 1 is not a preference pair"):
        read_preference_pairs(path, param="training_file")
    require_kind(report, DatasetKind.SFT)  # the right kind passes


def test_an_sft_job_on_pairs_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [openai_pair(), openai_pair("b")])
    with pytest.raises(InvalidRequestError) as caught:
        load_conversations(path, param="validation_file")
    assert caught.value.param == "validation_file"
    assert caught.value.message == (
        "'validation_file' holds preference pairs (OpenAI preference), not SFT conversations: "
        "line 1 is a preference pair; preference pairs are for method 'dpo'"
    )


def test_require_kind_on_a_file_of_nothing_known(tmp_path: Path) -> None:
    report = validate_dataset(write_jsonl(tmp_path / "u.jsonl", [{"text": "a"}]))
    assert report.kind is None
    with pytest.raises(InvalidRequestError, match="no valid record"):
        require_kind(report, DatasetKind.PREFERENCE)


def test_read_preference_pairs_reads_a_clean_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [openai_pair(), openai_pair("b", "c", "d")])
    pairs = read_preference_pairs(path)
    assert [(p.line, p.prompt[-1].content, p.chosen, p.rejected) for p in pairs] == [
        (1, "公文的主旨是什麼？", "說明目的。", "不知道。"),
        (2, "b", "c", "d"),
    ]
    forced = read_preference_pairs(path, schema=NATIVE_SCHEMAS[DatasetFormat.OPENAI_PREFERENCE])
    assert forced == pairs


def word_level_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "w": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


def test_report_kind_duplicates_and_lengths(tmp_path: Path) -> None:
    def words(n: int) -> str:
        return " ".join(["w"] * n)

    # tokens (no chat template: turns joined by newlines): prompt + the longer answer
    lines = [
        openai_pair(words(2), words(3), words(5)),  # 2 + 5 = 7 tokens, 3 + 9 = 12 chars
        openai_pair(words(2), words(3), words(5)),  # a duplicate
        openai_pair(words(10), words(20), words(1)),  # 10 + 20 = 30 tokens, 19 + 39 = 58 chars
    ]
    report = validate_dataset(
        write_jsonl(tmp_path / "p.jsonl", lines), tokenizer=word_level_tokenizer(), max_length=8
    )

    assert (report.kind, report.valid, report.duplicates) == (DatasetKind.PREFERENCE, 3, 1)
    assert report.chars is not None and (report.chars.min, report.chars.max) == (12, 58)
    assert report.tokens is not None
    assert (report.tokens.lengths.min, report.tokens.lengths.max) == (7, 30)
    assert report.tokens.over_max_length == 1
    dumped = json.loads(report.model_dump_json())
    assert (dumped["kind"], dumped["format"], dumped["ok"]) == (
        "preference",
        "openai_preference",
        True,
    )


def test_preference_lines_read_back_the_same(tmp_path: Path) -> None:
    pairs = [
        PreferencePair((Turn(U, "函是什麼？"),), "機關往來的公文。", "不知道。"),
        PreferencePair((Turn(S, "sys"), Turn(U, "q"), Turn(A, "a"), Turn(U, "q2")), "yes", "no"),
    ]
    path = tmp_path / "prefs.jsonl"
    assert write_preference_jsonl(pairs, path) == 2
    assert read_preference_pairs(path) == pairs

    line = preference_line(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "good", "bad"
    )
    assert line == {
        "input": {"messages": msgs(("system", "s"), ("user", "q"))},
        "preferred_output": msgs(("assistant", "good")),
        "non_preferred_output": msgs(("assistant", "bad")),
    }
    assert preference_line([Turn(S, "s"), Turn(U, "q")], "good", "bad") == line


@pytest.mark.parametrize(
    ("prompt", "chosen", "rejected", "message"),
    [
        ([Turn(U, "q")], "same", " same", "are the same text"),
        ([Turn(U, "q"), Turn(A, "a")], "x", "y", "the prompt ends with an assistant turn"),
        ([Turn(U, "q")], "", "y", "'preferred_output' is empty"),
        ([], "x", "y", "the prompt has no turns"),
    ],
)
def test_the_writer_refuses_what_the_reader_would(
    tmp_path: Path, prompt: list[Turn], chosen: str, rejected: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        preference_line(prompt, chosen, rejected)
    with pytest.raises(ValueError, match=f"pair 1: .*{message}"):
        write_preference_jsonl([PreferencePair(tuple(prompt), chosen, rejected)], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_write_dataset_points_preference_formats_to_their_writer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="write_preference_jsonl"):
        write_dataset([], tmp_path / "x.jsonl", DatasetFormat.OPENAI_PREFERENCE)


def setup_info(tmp_path: Path, entry: dict[str, Any], records: list[Any]) -> Path:
    (tmp_path / "data.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    (tmp_path / "dataset_info.json").write_text(
        json.dumps({"mine": {"file_name": "data.json", **entry}}), "utf-8"
    )
    return tmp_path / "dataset_info.json"


def read_entry(info_path: Path) -> tuple[list[PreferencePair], list[str]]:
    dataset = llamafactory_dataset(load_dataset_info(info_path), "mine", info_path.parent)
    data = read_dataset(dataset.path, schema=dataset.schema)
    return data.pairs, [str(i) for i in data.issues]


def test_llamafactory_ranking_entries(tmp_path: Path) -> None:
    # LLaMA-Factory's own dpo_en_demo entry, with its sharegpt layout
    entry = {
        "ranking": True,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
    }
    record = {
        "conversations": [{"from": "human", "value": "q"}],
        "chosen": {"from": "gpt", "value": "good"},
        "rejected": {"from": "gpt", "value": "bad"},
    }
    pairs, issues = read_entry(setup_info(tmp_path, entry, [record, {**record, "rejected": "x"}]))
    assert pairs == [PreferencePair((Turn(U, "q"),), "good", "bad")]
    assert issues == ["record 2 (line 1): 'rejected' is a string, not an object"]

    alpaca = {"ranking": True, "columns": {"prompt": "question", "chosen": "c", "rejected": "r"}}
    records = [
        {"question": "q", "c": "good", "r": "bad"},
        {"question": "q", "c": "same", "r": "same"},
    ]
    pairs, issues = read_entry(setup_info(tmp_path, alpaca, records))
    assert pairs == [PreferencePair((Turn(U, "q"),), "good", "bad")]
    assert issues == [
        "record 2 (line 1): 'c' and 'r' are the same text, so there is nothing to prefer"
    ]

    tagged = {
        "ranking": True,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "chosen": "chosen", "rejected": "rejected"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }
    message_record = {
        "messages": msgs(("user", "q")),
        "chosen": {"role": "assistant", "content": "good"},
        "rejected": {"role": "assistant", "content": "bad"},
    }
    dataset = llamafactory_dataset(
        load_dataset_info(setup_info(tmp_path, tagged, [message_record])), "mine", tmp_path
    )
    assert isinstance(dataset.schema, ChatPairSchema)
    assert read_preference_pairs(dataset.path, schema=dataset.schema) == [
        PreferencePair((Turn(U, "q"),), "good", "bad")
    ]


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"ranking": True, "columns": {"prompt": "q", "chosen": "c"}}, "do not name both"),
        ({"ranking": True}, "do not name both"),
        ({"columns": {"prompt": "q", "chosen": "c", "rejected": "r"}}, '"ranking": true'),
    ],
)
def test_llamafactory_ranking_entries_refused(
    tmp_path: Path, entry: dict[str, Any], needle: str
) -> None:
    info_path = setup_info(tmp_path, entry, [{"q": "q", "c": "a", "r": "b"}])
    with pytest.raises(InvalidRequestError) as caught:
        llamafactory_dataset(load_dataset_info(info_path), "mine", tmp_path)
    assert needle in caught.value.message
