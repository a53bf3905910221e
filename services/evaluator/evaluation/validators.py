"""Domain validators: checks of one answer against its reference, kept in a small registry.

Each returns True (passes), False (fails) or None (does not apply). Unless an evaluation
names validators, each one applies only to examples whose reference shows the feature it
checks (a reference with a 主旨 section, a cited statute, a number), so a plain Q&A set is
not marked down for lacking 公文 structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from tuneloop_core.errors import InvalidRequestError

Check = Callable[[str, str | None], bool | None]

# 公文 sections in the order the 公文程式條例 prescribes; 辦法 may be left out.
SECTIONS = ("主旨", "說明", "辦法")
_SECTION_AT = {
    name: re.compile(rf"(^|\n)\s*[一二三四五六七八九十0-9、.\s]*{name}\s*[:：]")
    for name in SECTIONS
}
_RECIPIENT = re.compile(r"(^|\n)\s*受文者\s*[:：]")
_STATUTE = re.compile(
    r"第\s*([0-9０-９一二三四五六七八九十百千〇零]+)\s*條(?:\s*之\s*([0-9一二三四五六七八九十]+))?"
)
_NUMERAL = "0-9０-９一二三四五六七八九十百千〇零"
# An article number with no 第 before it ("5條"); spaces are removed before matching.
_BARE_ARTICLE = re.compile(rf"(?<![第{_NUMERAL}])[{_NUMERAL}]+條")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _section_positions(text: str) -> dict[str, int]:
    found = {}
    for name, pattern in _SECTION_AT.items():
        match = pattern.search(text)
        if match:
            found[name] = match.start()
    return found


def gongwen_structure(answer: str, reference: str | None) -> bool | None:
    """主旨 and 說明 present (辦法 optional), in that order, and a 受文者 line."""
    if reference is not None and "主旨" not in _section_positions(reference):
        return None
    positions = _section_positions(answer)
    if "主旨" not in positions or "說明" not in positions:
        return False
    order = [positions[name] for name in SECTIONS if name in positions]
    return order == sorted(order) and bool(_RECIPIENT.search(answer))


def _citations(text: str) -> set[str]:
    return {f"{m.group(1)}-{m.group(2) or ''}" for m in _STATUTE.finditer(text.replace(" ", ""))}


def statute_citations(answer: str, reference: str | None) -> bool | None:
    """Statutes are cited as 第…條 (not a bare "5條"), and every one the reference cites
    is cited in the answer."""
    wanted = _citations(reference) if reference is not None else set()
    if reference is not None and not wanted:
        return None
    if _BARE_ARTICLE.search(answer.replace(" ", "")):
        return False
    return wanted <= _citations(answer) if wanted else bool(_citations(answer)) or None


def numbers_in_reference(answer: str, reference: str | None) -> bool | None:
    """Every number the answer states also appears in the reference (no invented figures)."""
    numbers = set(_NUMBER.findall(answer))
    if not numbers or reference is None:
        return None
    return numbers <= set(_NUMBER.findall(reference))


@dataclass(frozen=True)
class Validator:
    name: str
    label_zh: str
    label_en: str
    check: Check


VALIDATORS: Mapping[str, Validator] = MappingProxyType(
    {
        v.name: v
        for v in (
            Validator(
                "gongwen_structure",
                "公文結構（受文者、主旨、說明、辦法）",
                "公文 structure",
                gongwen_structure,
            ),
            Validator(
                "statute_citation", "法條引用（第…條）", "Statute citations", statute_citations
            ),
            Validator(
                "numbers_in_reference",
                "數字皆見於參考答案",
                "Numbers found in the reference",
                numbers_in_reference,
            ),
        )
    }
)


def check_names(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in VALIDATORS]
    if unknown:
        raise InvalidRequestError(
            f"unknown validators {unknown}; known: {sorted(VALIDATORS)}", param="validators"
        )


def run_validators(
    names: Sequence[str] | None, answers: Sequence[str], references: Sequence[str | None]
) -> dict[str, list[bool | None]]:
    """Per validator, the outcome per example. Named validators apply to every example
    (a reference without the feature is then ignored); by default each applies where the
    reference calls for it, and validators that apply nowhere are left out."""
    explicit = names is not None
    chosen = list(names) if names is not None else list(VALIDATORS)
    check_names(chosen)
    out: dict[str, list[bool | None]] = {}
    for name in chosen:
        check = VALIDATORS[name].check
        if explicit:
            results = [
                check(a, None) if name != "numbers_in_reference" else check(a, r)
                for a, r in zip(answers, references, strict=True)
            ]
        else:
            results = [check(a, r) for a, r in zip(answers, references, strict=True)]
        if explicit or any(r is not None for r in results):
            out[name] = results
    return out


def pass_rate(results: Sequence[bool | None]) -> float | None:
    """Share of applicable examples that pass, 0–100; None when none applies."""
    applicable = [r for r in results if r is not None]
    return 100.0 * sum(applicable) / len(applicable) if applicable else None
