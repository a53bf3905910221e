"""Answer-grounded generation's pieces: answer sentences cut from a chunk, the question
grammar built from its words (compiled by xgrammar, the grammar engine the inference
service decodes with), the reply schemas and their check, and that the phrasings of one
answer survive the unchanged near-duplicate filter on the bundled 公文 documents."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from services.datagen.documents.chunk import ChunkingOptions, chunk_document
from services.datagen.documents.parse import parse_document
from services.datagen.generation import grounded, quality, schemas
from services.datagen.generation.quality import Pair

xgrammar = pytest.importorskip("xgrammar")
DOCS = Path(__file__).resolve().parents[3] / "samples" / "gongwen" / "docs"

CHUNK = """# 公文的類別與用途

## 令

令用於公布法律、發布命令，以及任免、獎懲官員。令要蓋用機關印信，並由首長署名；呈與咨的使用範圍最窄。

- **函**是機關之間公文往復時使用的公文。
| 欄位 | 說明 |
| --- | --- |
公文大致可分為：
短句。
```
程式碼是不會被當成答案的一段文字。
```
問：公文可以直接拿去給別的單位嗎？
答：視機關的作業方式而定，可以線上簽核。
依收文機關與發文機關的層級關係，函可分為三種方向：對上級機關行文是上行文，對同級機關是平行文，對下級機關是下行文，各機關應依此選用期望語。
"""


def test_answers_are_verbatim_sentences_without_markdown_or_fragments() -> None:
    assert grounded.answer_spans(CHUNK, "zh-TW") == [
        "令用於公布法律、發布命令，以及任免、獎懲官員。",
        "令要蓋用機關印信，並由首長署名",  # split at ；, which is dropped
        "呈與咨的使用範圍最窄。",
        "函是機關之間公文往復時使用的公文。",  # list marker and emphasis gone
        "視機關的作業方式而定，可以線上簽核。",  # an FAQ's answer, not its question
        # an overlong sentence gives its opening clauses, up to 60 characters
        "依收文機關與發文機關的層級關係，函可分為三種方向：對上級機關行文是上行文，"
        "對同級機關是平行文，對下級機關是下行文",
    ]
    text = "# Letters\n\nA letter is used between agencies for official business. Short one.\n"
    assert grounded.answer_spans(text, "en") == [
        "A letter is used between agencies for official business."
    ]
    assert grounded.answer_spans(text, "zh-TW") == []  # no sentence in the asked language


def test_code_is_never_an_answer_even_in_a_chunk_cut_inside_a_code_block() -> None:
    """A how-to note's chunk can begin past a code block's opening fence (seen on
    FastAPI's own dependencies.md): its code lines and closing fence must not be taken as
    prose, nor the prose after that fence as code."""
    cut_inside = (
        "from fastapi import Depends, FastAPI\n"
        "PaginatorDep = Annotated[DatabasePaginator, Depends(get_db_paginator)]\n"
        "```\n\n"
        "Dependencies are functions that FastAPI calls before your endpoint runs.\n\n"
        "```python\ndef f(x):\n    return x\n"
    )
    assert grounded.answer_spans(cut_inside, "en") == [
        "Dependencies are functions that FastAPI calls before your endpoint runs."
    ]
    cut_after_opening = "Intro text is here and it is long enough.\n```\ncode = 1\n"
    assert grounded.answer_spans(cut_after_opening, "en") == [
        "Intro text is here and it is long enough."
    ]
    prose = "Every action performed (clicks, fills, navigations) is kept in the trace."
    assert grounded.answer_spans(prose, "en") == [prose]  # parentheses alone are no code


def test_an_english_clause_opener_is_no_subject() -> None:
    """ "If a class is needed, …" once gave the question "What is If a class?"."""
    grammar = grounded.question_grammar(
        "If a class is needed, create a function that returns an instance.", [], "en", 1
    )
    assert grammar is None or not any("If a class" in p for p in grammar.patterns)
    letter = grounded.question_grammar("A letter is used between agencies.", [], "en", 1)
    assert letter is not None and "letter" in letter.patterns[0]


def test_terms_and_cloze_openings_come_from_the_answer_and_its_heading() -> None:
    answer = "令用於公布法律、發布命令，以及任免、獎懲官員。"
    terms = grounded.question_terms(answer, ["公文", "令與公告"], "zh-TW")
    assert terms == ["令"]  # its subject; of the heading's words it uses only 令
    assert grounded.question_terms("函要寫「主旨」。", ["函"], "zh-TW") == ["函", "主旨"]
    # no subject: the answer's own segments, not the section's heading
    assert grounded.question_terms("由首長署名。", ["呈與咨"], "zh-TW") == ["首長署名"]
    # an answer with nothing to ask about falls back to its heading
    assert grounded.question_terms("都由它。", ["呈與咨"], "zh-TW") == ["呈與咨", "呈", "咨"]
    assert grounded.cloze_prefixes(answer, "zh-TW") == ["令用於"]
    assert grounded.cloze_prefixes("說明只有一項。", "zh-TW") == []  # 只 is no verb to ask at
    assert grounded.question_terms("The seal is required.", ["Seals"], "en") == ["seal"]
    assert grounded.question_terms("It is required.", ["Seals"], "en") == ["Seals"]


@pytest.mark.parametrize(
    ("language", "answer", "heading", "good", "bad"),
    [
        (
            "zh-TW",
            "令用於公布法律、發布命令，以及任免、獎懲官員。",
            ["公文", "令"],
            ["令是什麼？", "請問令的用途為何？", "令用於什麼？", "令有哪些規定？"],
            ["令是什麼", "甲是什麼？", "請問令用於公布法律、發布命令嗎？", "令(是什麼？"],
        ),
        (
            "en",
            "The seal (a stamp) is required on every order.",
            ["Orders"],
            ["What is seal (a stamp)?", "When is seal (a stamp) used?"],
            ["What is the moon?", "what is seal (a stamp)?"],
        ),
    ],
)
def test_question_grammar_compiles_and_accepts_only_chunk_wording(
    language: str, answer: str, heading: list[str], good: list[str], bad: list[str]
) -> None:
    grammar = grounded.question_grammar(answer, heading, language, 3)  # type: ignore[arg-type]
    assert grammar is not None and len(grammar.patterns) == 3
    for pattern in grammar.patterns:
        xgrammar.Grammar.from_regex(pattern)  # raises on a pattern it cannot compile
    xgrammar.Grammar.from_json_schema(json.dumps(grammar.schema()), any_whitespace=False)
    anywhere = [q for q in good if any(re.fullmatch(p, q) for p in grammar.patterns)]
    assert anywhere == good
    assert not [q for q in bad if any(re.fullmatch(p, q) for p in grammar.patterns)]
    # each phrasing has its own endings: two phrasings can never be the same question
    for q in good:
        assert sum(bool(re.fullmatch(p, q)) for p in grammar.patterns) == 1


def test_reply_schemas_compile_and_bound_every_string_and_array() -> None:
    for schema in (
        schemas.pairs_schema(3, reasoning=True),
        schemas.judge_schema(),
        schemas.refine_schema(),
    ):
        xgrammar.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False)
        text = json.dumps(schema)
        assert text.count('"type": "string"') == text.count('"maxLength"')
        assert text.count('"type": "array"') == text.count('"maxItems"')


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"score": 4, "reason": "ok"}, None),
        ({"score": 4.0, "reason": "ok"}, None),
        ({"score": 6, "reason": "ok"}, "$.score: 6 is not one of [0, 1, 2, 3, 4, 5]"),
        ({"score": "4", "reason": "ok"}, "$.score: not a integer"),
        ({"score": 4}, "$: missing reason"),
        ({"score": 4, "reason": "ok", "extra": 1}, "$: unexpected extra"),
        ({"score": 4, "reason": "很長" * 61}, "$.reason: longer than 120 characters"),
    ],
)
def test_judge_replies_are_checked_against_the_schema(value: object, problem: str | None) -> None:
    assert schemas.schema_problem(value, schemas.judge_schema()) == problem


def test_pairs_replies_are_checked_item_by_item() -> None:
    schema = schemas.pairs_schema(2, reasoning=False)
    ok = {"pairs": [{"question": "函是什麼？", "answer": "函是公文。"}]}
    assert schemas.schema_problem(ok, schema) is None
    assert schemas.schema_problem({"pairs": []}, schema) == "$.pairs: 0 items"
    three = {"pairs": ok["pairs"] * 3}
    assert schemas.schema_problem(three, schema) == "$.pairs: 3 items"
    broken = {"pairs": [{"question": "函是什麼？"}]}
    assert schemas.schema_problem(broken, schema) == "$.pairs[0]: missing answer"


def test_phrasings_of_one_answer_survive_the_near_duplicate_filter() -> None:
    """Worst case on the five 公文 documents: every phrasing uses the same term and its
    share's first ending. Most answers keep all three; none is always cut to one."""
    pairs = []
    for path in sorted(DOCS.glob("*.md")):
        for chunk in chunk_document(parse_document(path), ChunkingOptions()):
            for n, answer in enumerate(grounded.answer_spans(chunk.text, "zh-TW")):
                grammar = grounded.question_grammar(answer, chunk.heading_path, "zh-TW", 3)
                assert grammar is not None
                term = grounded.question_terms(answer, chunk.heading_path, "zh-TW")[0]
                for k, pattern in enumerate(grammar.patterns):
                    ending = re.findall(r"\(([^()]*？)", pattern)[0].split("|")[0]
                    question = term + ending
                    assert re.fullmatch(pattern, question), (question, pattern)
                    ident = f"{path.stem}-{chunk.index}-{n}-{k}"
                    pairs.append(Pair(ident, question, answer, path.name, None, [], 0))
    kept, _ = quality.drop_near_duplicates(pairs, threshold=0.8)
    per_answer = Counter(p.answer for p in kept)
    answers = {p.answer for p in pairs}
    assert len(answers) > 200
    assert sum(n == 3 for n in per_answer.values()) > 0.4 * len(answers)
    assert sum(per_answer.values()) > 2.2 * len(answers)  # ~2.4 phrasings kept per answer
