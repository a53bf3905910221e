"""Optional script normalisation: OpenCC converts both sides to Traditional Chinese with
Taiwan variants (`s2tw`, character by character), so a Simplified answer to a Traditional
reference scores like the same answer written in Traditional. Vocabulary is left alone
(软件 becomes 軟件, not the Taiwan word 軟體): a different word is a different answer.
Traditional text may change too (台灣 becomes 臺灣); as both sides are converted, that only
ever removes differences."""

from __future__ import annotations

from functools import cache
from typing import Literal

import opencc

Normalization = Literal["opencc"]
OPENCC_CONFIG = "s2tw"  # Simplified → Traditional (Taiwan standard characters)


@cache
def _converter() -> opencc.OpenCC:
    # Built once per process: loading the dictionaries takes a few milliseconds.
    return opencc.OpenCC(OPENCC_CONFIG)


def to_traditional(text: str) -> str:
    """`text` in Traditional characters (Taiwan standard); text that is not Chinese is
    returned unchanged."""
    converted: str = _converter().convert(text)
    return converted


def normalize_text(text: str, normalization: Normalization | None) -> str:
    if normalization is None:
        return text
    if normalization == "opencc":
        return to_traditional(text)
    raise ValueError(f"unknown normalization {normalization!r}")
