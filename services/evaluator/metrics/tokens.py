"""How text is cut into the units each metric counts."""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings

from services.evaluator.metrics.language import CJK_CHARACTER_CLASS, Language

with warnings.catch_warnings():
    # jieba 0.42 imports pkg_resources, which warns on every import under setuptools ≥ 81.
    warnings.simplefilter("ignore", DeprecationWarning)
    import jieba

# jieba announces building its prefix dictionary on the first cut (about a second, cached
# in the temp directory afterwards); that is not worth a log line per process.
logging.getLogger("jieba").setLevel(logging.WARNING)

_WORD_OR_PUNCTUATION = re.compile(r"\w+|[^\w\s]")
_CJK_OR_RUN = re.compile(f"{CJK_CHARACTER_CLASS}|(?:(?!{CJK_CHARACTER_CLASS}).)+")
_ARTICLES = frozenset({"a", "an", "the"})


def jieba_words(text: str) -> list[str]:
    """jieba's default segmentation (spaces come back as tokens of their own, as in
    LLaMA-Factory; rouge-chinese drops them when it re-splits on whitespace)."""
    return list(jieba.cut(text))


def characters(text: str) -> list[str]:
    """Every character, spaces included: LLaMA-Factory's BLEU units for Chinese."""
    return list(text)


def words(text: str) -> list[str]:
    """English BLEU units: runs of word characters and single punctuation marks, case
    kept ("dog." is "dog" and "."), so no tokenizer data has to be downloaded."""
    return _WORD_OR_PUNCTUATION.findall(text)


def _without_punctuation(text: str) -> str:
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")))


def answer_tokens(text: str, language: Language) -> list[str]:
    """Units of exact match and token F1, after SQuAD-style normalisation: lower case,
    punctuation and symbols removed. English: whitespace words without articles (SQuAD).
    Chinese: one token per CJK character, other runs of letters and digits as words
    (CMRC 2018's mixed segmentation)."""
    text = _without_punctuation(text.lower())
    if language == "en":
        return [word for word in text.split() if word not in _ARTICLES]
    tokens: list[str] = []
    for chunk in text.split():
        tokens.extend(_CJK_OR_RUN.findall(chunk))
    return tokens
