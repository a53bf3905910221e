"""Which scoring conventions a pair gets: Chinese (jieba words for ROUGE, characters for
BLEU and token F1, as LLaMA-Factory does) or English (rouge-score, word tokens)."""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en"]
LanguageChoice = Literal["auto", "zh", "en"]

# Han (with extensions A–G and compatibility ideographs), kana, Hangul syllables: text
# in these scripts has no spaces between words, so it needs the character conventions.
CJK_CHARACTER_CLASS = (
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
_CJK_CHARACTER = re.compile(CJK_CHARACTER_CLASS)
# Share of letters and digits that are CJK characters from which a text counts as
# Chinese: "LoRA 微調" (2 of 6) is Chinese, an English sentence naming one 公文 is not.
ZH_CJK_SHARE = 0.3


def cjk_share(text: str) -> float:
    """CJK characters over all letters and digits (0.0 for text with neither)."""
    letters = [ch for ch in text if ch.isalnum()]
    if not letters:
        return 0.0
    cjk = sum(1 for ch in letters if _CJK_CHARACTER.match(ch))
    return cjk / len(letters)


def detect_language(prediction: str, reference: str) -> Language:
    """The language of a pair, read from the reference (what the task asks for); from the
    prediction only when the reference has no letters or digits."""
    text = reference if any(ch.isalnum() for ch in reference) else prediction
    return "zh" if cjk_share(text) >= ZH_CJK_SHARE else "en"
