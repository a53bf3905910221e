"""The bundled 公文 sample (samples/gongwen): shape, consistency with facts.json, held-out
paraphrases that really differ from the training phrasings, and zh-TW text only."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "gongwen"
DOCS = SAMPLE / "docs"

ALPACA_KEYS = {"instruction", "input", "output"}
MAX_HELDOUT_SIMILARITY = 0.6
MAX_ANSWER_CHARS = 100

# Characters that exist only in Simplified Chinese; none may appear anywhere in the sample.
SIMPLIFIED_ONLY = set(
    "们这说国发时会对来个为书务关机应处见议长门问间过还进经条级规签办报项单员读写认识"
    "号开运动录档则让从实现与两东车观计记设证语请调资质钱铁网页陈际难风马鱼鸟齐变学产"
    "亲买卖乐习亏亚仅价众优传体备头宁宝审层岁师带帮广库废张归当总态战户执扩护拟择换据"
    "击挂节范样权构标检决况减创删别剧劝势区协卫简么着"
)
CJK = re.compile(r"[\u4e00-\u9fff]")


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gongwen_build", SAMPLE / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> Any:
    return json.loads((SAMPLE / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return _load_build()


@pytest.fixture(scope="module")
def facts() -> list[dict[str, Any]]:
    return _read("facts.json")


@pytest.fixture(scope="module")
def train() -> list[dict[str, str]]:
    return _read("train.json")


@pytest.fixture(scope="module")
def heldout() -> list[dict[str, str]]:
    return _read("heldout.json")


def _bigrams(text: str) -> set[str]:
    chars = re.sub(r"\W", "", text)  # drop punctuation and whitespace, keep CJK and digits
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def _jaccard(a: str, b: str) -> float:
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x | y else 0.0


@pytest.mark.parametrize("name", ["train.json", "heldout.json"])
def test_alpaca_shape(name: str) -> None:
    pairs = _read(name)
    assert isinstance(pairs, list) and pairs
    for pair in pairs:
        assert isinstance(pair, dict)
        assert set(pair) == ALPACA_KEYS, pair
        assert pair["input"] == ""
        for key in ("instruction", "output"):
            assert isinstance(pair[key], str) and pair[key].strip(), pair


def test_files_are_what_build_produces(build: ModuleType, tmp_path: Path) -> None:
    train, heldout = build.build(build.load_facts(SAMPLE / "facts.json"))
    assert _read("train.json") == train
    assert _read("heldout.json") == heldout
    # byte-for-byte too: the committed files are exactly what `python build.py` writes
    build.write(out_dir=tmp_path, facts_path=SAMPLE / "facts.json")
    for name in ("train.json", "heldout.json"):
        committed = (SAMPLE / name).read_text(encoding="utf-8")
        assert (tmp_path / name).read_text(encoding="utf-8") == committed, name


def test_fact_structure(facts: list[dict[str, Any]]) -> None:
    ids = [f["id"] for f in facts]
    assert len(ids) == len(set(ids))
    for fact in facts:
        assert set(fact) == {"id", "doc", "answer", "train", "heldout"}, fact["id"]
        assert len(fact["train"]) == 7, fact["id"]
        assert 1 <= len(fact["heldout"]) <= 2, fact["id"]
        assert len(set(fact["train"])) == 7, f"{fact['id']}: repeated training phrasing"
    questions = [q for f in facts for q in f["train"] + f["heldout"]]
    assert len(questions) == len(set(questions)), "a question appears twice"


def test_counts(
    facts: list[dict[str, Any]], train: list[dict[str, str]], heldout: list[dict[str, str]]
) -> None:
    assert 45 <= len(facts) <= 50
    assert 315 <= len(train) <= 350
    assert 50 <= len(heldout) <= 90


def test_answers_short_and_canonical(
    facts: list[dict[str, Any]], train: list[dict[str, str]]
) -> None:
    for fact in facts:
        assert len(fact["answer"]) <= MAX_ANSWER_CHARS, fact["id"]
    # every phrasing of a fact trains the same canonical answer
    answers = {f["answer"] for f in facts}
    assert len(answers) == len(facts), "two facts share an answer"
    assert {p["output"] for p in train} == answers


def test_heldout_not_contained_in_training(facts: list[dict[str, Any]]) -> None:
    training = [q for f in facts for q in f["train"]]
    for fact in facts:
        for h in fact["heldout"]:
            for q in training:
                assert h != q and h not in q and q not in h, (fact["id"], h, q)


def test_heldout_is_a_real_paraphrase(facts: list[dict[str, Any]]) -> None:
    training = [q for f in facts for q in f["train"]]
    for fact in facts:
        for h in fact["heldout"]:
            nearest = max(training, key=lambda q: _jaccard(h, q))
            score = _jaccard(h, nearest)
            assert score < MAX_HELDOUT_SIMILARITY, (fact["id"], h, nearest, round(score, 3))


def test_docs_referenced_and_exist(facts: list[dict[str, Any]]) -> None:
    docs = {p.name for p in DOCS.glob("*.md")}
    assert 4 <= len(docs) <= 5
    referenced = {f["doc"] for f in facts}
    assert referenced <= docs, referenced - docs
    assert docs <= referenced, f"docs no fact uses: {docs - referenced}"


def test_docs_are_sized_markdown() -> None:
    for path in DOCS.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert 1500 <= len(text) <= 4000, (path.name, len(text))
        assert text.startswith("# "), path.name
        assert re.search(r"^## ", text, re.MULTILINE), path.name


def test_traditional_chinese_only(facts: list[dict[str, Any]]) -> None:
    texts: dict[str, str] = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    for name in ("train.json", "heldout.json", "facts.json"):
        texts[name] = (SAMPLE / name).read_text(encoding="utf-8")
    for name, text in texts.items():
        found = sorted(set(text) & SIMPLIFIED_ONLY)
        assert not found, f"{name}: simplified characters {found}"
    for fact in facts:
        for text in [fact["answer"], *fact["train"], *fact["heldout"]]:
            assert CJK.search(text), (fact["id"], text)
