"""Rule checks, near-duplicate removal and the train/evaluation split.

Near-duplicates are found with MinHash LSH (datasketch) over character 3-grams, which
works for Chinese (no word boundaries) and English alike. The split is checked for
leakage: an evaluation pair with a near-duplicate in train moves to train.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datasketch import MinHash, MinHashLSH

from services.datagen.generation.spec import Language

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[a-z0-9]+")
NUM_PERM = 128  # MinHash permutations: ~±0.09 error on a Jaccard estimate
MIN_QUESTION_CHARS = 4
MIN_ANSWER_CHARS = 2
# Share of the answer's character bigrams (zh) or words (en) that must occur in its chunk;
# below it the answer says things the chunk does not.
MIN_SUPPORT = 0.3


@dataclass
class Pair:
    id: str
    question: str
    answer: str
    document: str
    page: int | None
    heading_path: list[str]
    chunk_index: int
    reasoning: str | None = None
    score: float | None = None
    score_reason: str = ""
    refined: bool = False
    confirmed: bool = False  # set by a person reviewing the dataset
    split: str = "train"
    extra: dict[str, Any] = field(default_factory=dict)


def cjk_share(text: str) -> float:
    letters = [c for c in text if not c.isspace() and c.isalnum()]
    return sum(bool(CJK.match(c)) for c in letters) / len(letters) if letters else 0.0


def _units(text: str, chinese: bool) -> set[str]:
    if chinese:
        chars = [c for c in text if c.isalnum()]
        return {a + b for a, b in itertools.pairwise(chars)} or set(chars)
    return set(WORD.findall(text.lower()))


def support(answer: str, chunk: str) -> float:
    """Share of the answer's bigrams/words found in the chunk (0–1)."""
    chinese = cjk_share(answer) >= 0.3
    units = _units(answer, chinese)
    return len(units & _units(chunk, chinese)) / len(units) if units else 0.0


def rule_problem(question: str, answer: str, chunk: str, language: Language) -> str | None:
    """Why a pair breaks a rule ("empty", "too_short", "language_mismatch",
    "unsupported_by_chunk"), or None."""
    if not question.strip() or not answer.strip():
        return "empty"
    if len(question.strip()) < MIN_QUESTION_CHARS or len(answer.strip()) < MIN_ANSWER_CHARS:
        return "too_short"
    zh = cjk_share(question + answer) >= 0.3
    if zh != (language == "zh-TW"):
        return "language_mismatch"
    if support(answer, chunk) < MIN_SUPPORT:
        return "unsupported_by_chunk"
    return None


def _minhash(text: str) -> MinHash:
    compact = "".join(text.lower().split())
    shingles = {compact[i : i + 3] for i in range(max(1, len(compact) - 2))}
    digest = MinHash(num_perm=NUM_PERM, seed=1)
    for shingle in shingles:
        digest.update(shingle.encode())
    return digest


def drop_near_duplicates(pairs: Sequence[Pair], threshold: float) -> tuple[list[Pair], int]:
    """The pairs with no near-duplicate earlier in the list, and how many were dropped."""
    index = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    kept: list[Pair] = []
    for pair in pairs:
        digest = _minhash(pair.question + " " + pair.answer)
        if index.query(digest):
            continue
        index.insert(pair.id, digest)
        kept.append(pair)
    return kept, len(pairs) - len(kept)


def split(
    pairs: Sequence[Pair], eval_fraction: float, threshold: float, seed: int
) -> tuple[list[Pair], list[Pair], int]:
    """(train, eval, pairs moved to train because a near-duplicate was in train)."""
    order = list(pairs)
    random.Random(seed).shuffle(order)
    n_eval = round(len(order) * eval_fraction) if len(order) > 1 else 0
    evaluation, train = order[:n_eval], order[n_eval:]
    index = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for pair in train:
        index.insert(pair.id, _minhash(pair.question + " " + pair.answer))
    leaked = [p for p in evaluation if index.query(_minhash(p.question + " " + p.answer))]
    evaluation = [p for p in evaluation if p not in leaked]
    train = sorted([*train, *leaked], key=lambda p: p.id)
    for pair in train:
        pair.split = "train"
    for pair in evaluation:
        pair.split = "eval"
    return train, sorted(evaluation, key=lambda p: p.id), len(leaked)


def score_histogram(pairs: Sequence[Pair]) -> dict[str, int]:
    """Judge scores rounded to 0–5, and how many pairs have none."""
    counts = {str(i): 0 for i in range(6)}
    counts["unscored"] = 0
    for pair in pairs:
        key = "unscored" if pair.score is None else str(round(min(5.0, max(0.0, pair.score))))
        counts[key] += 1
    return counts
