"""ROUGE-L and agreement between answers, for the quantisation drift report.

ROUGE-L here is the F-measure of the longest common subsequence over words, with each CJK
character its own word (as Chinese ROUGE is usually computed), in points (0-100)."""

from __future__ import annotations

import re

_WORDS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 in points; two empty texts agree fully."""
    a, b = words(candidate), words(reference)
    if not a and not b:
        return 100.0
    common = _lcs(a, b)
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 100.0 * 2 * precision * recall / (precision + recall)


def exact_match(candidate: str, reference: str) -> float:
    return 100.0 if " ".join(words(candidate)) == " ".join(words(reference)) else 0.0


def prefix_agreement(a: list[int], b: list[int]) -> float:
    """Share of the longer sequence that both produced identically from the start."""
    if not a and not b:
        return 1.0
    same = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        same += 1
    return same / max(len(a), len(b))


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
