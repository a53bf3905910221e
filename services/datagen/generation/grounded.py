"""Answer-grounded generation: the answer is a sentence taken verbatim from the chunk, and
the teacher writes only questions for it, under a grammar built from the chunk's own
words. A question is

    (lead-in)? TERM ENDING          e.g. 請問 + 令 + 的用途為何？ / What is + seal + ?
    (lead-in)? PREFIX INTERROGATIVE e.g. 令用於 + 什麼？ (zh-TW only)

where TERM is a phrase of the answer or the chunk's headings (its subject, quoted terms,
heading words, short segments), PREFIX is the answer's opening up to a verb, and the
endings come from a fixed list. A tiny model then only chooses; it cannot garble the
wording, echo the prompt or run on. The n phrasings of one answer each get their own
families of endings, so they always differ, and by more than the near-duplicate filter
(MinHash over question + answer at 0.8) sees through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.datagen.generation.quality import cjk_share
from services.datagen.generation.schemas import Schema, strict_object
from services.datagen.generation.spec import Language

# Answer length in characters: shorter is rarely a fact, longer leaves too little room for
# the question in the near-duplicate filter (MinHash over question + answer at 0.8: two
# phrasings of one answer only stay apart when the answer is not most of the pair).
ANSWER_CHARS = {"zh-TW": (8, 60), "en": (24, 180)}
MAX_TERMS = 12  # alternatives a question may be built on
MAX_TERM_CHARS = {"zh-TW": 12, "en": 48}
MAX_PREFIX_CHARS = 16  # a cloze question's opening, zh-TW

HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
SKIPPED_LINE = re.compile(r"^\s*(?:\||```|~~~|[-*_]{3,}\s*$|<)")
LINE_MARKER = re.compile(
    r"^\s*(?:>\s*)*(?:[-*+]\s+|\d+[.)、]\s*|[（(]?[一二三四五六七八九十]+[、）)]\s*)?"
)
EMPHASIS = re.compile(r"\*\*|__|`")
FENCE = re.compile(r"^\s*(?:```|~~~)")
# A line of code outside a fence (a chunk can begin inside a code block, past its opening
# fence): imports, definitions, assignments, calls, braces, prompts.
CODE_LINE = re.compile(
    r"^\s*(?:from\s+\S+\s+import\b|import\s|def\s|class\s\w+[(:]|return\b|async\s+def|await\s"
    r"|@\w|\$\s|>>>|[\w.\[\]]+\s*[:+\-*/]?=[^=])|[{};]\s*$|\w\([^()]*\)\s*$"
)
QA_LABEL = re.compile(r"^(?:答|A)\s*[:：]\s*")  # an FAQ's answer label
SENTENCE = {
    "zh-TW": re.compile(r"[^。！？；]+[。！？；]?"),
    "en": re.compile(r".+?(?:[.!?;](?=\s|$)|$)"),
}
CLAUSE = {"zh-TW": re.compile(r"[^，、]+[，、]?"), "en": re.compile(r"[^,]+,?")}
QUOTED = re.compile(r"[「『“\"]([^」』”\"]{1,48})[」』”\"]")
# Words that end a Chinese subject (no word segmenter here: characters that often sit
# inside nouns, such as 會 in 部會 or 向 in 方向, are left out).
ZH_PREDICATE = re.compile(
    r"(?:用於|是|為|由|應|須|需|要|可|指|分為|包括|包含|使用|屬於|稱為|通常|一般|必須|"
    r"則|都|只|不|的|與|和|及)"
)
# Verbs a cloze question may stop at: 令用於 + 什麼？ (not 只, 不, 與: 說明只什麼？)
ZH_CLOZE_VERB = re.compile(r"(?:用於|是|稱為|包括|包含|分為|使用|屬於|指)")
ZH_CONNECTIVE = re.compile(
    r"^(?:例如|舉例來說|此外|另外|至於|關於|但是?|而且?|因此|所以|如果|若|如|也|即|又|卻|並|以)"
)
ZH_SEGMENT_SPLIT = re.compile(r"[，、。；：！？「」『』（）()\s]+|" + ZH_PREDICATE.pattern)
EN_SUBJECT = re.compile(
    r"^(?:the |a |an )?(.+?) (?:is|are|was|were|must|should|may|can|means|refers|uses|use|"
    r"has|have|contains|includes|needs)\b",
    re.IGNORECASE,
)
EN_PRONOUNS = {"it", "this", "that", "they", "these", "those", "he", "she", "we", "you", "i"}
# Words that open a clause, not a subject ("If a class is needed, …")
EN_CONNECTIVES = {"if", "when", "while", "because", "although", "since", "unless", "once"}
EN_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
HEADING_PART = re.compile(r"\s*(?:與|和|及|、|/|,| and | & )\s*")
HEADING_NUMBER = re.compile(r"^(?:[一二三四五六七八九十]+[、.]|\d+(?:\.\d+)*[.、]?)\s*")

LEAD_INS = {"zh-TW": ["請問"], "en": []}


@dataclass(frozen=True)
class Family:
    """Question endings that read alike (…是什麼？, …指的是什麼？): one phrasing's share, so
    two phrasings of an answer never differ only by a word the near-duplicate filter
    would see through."""

    templates: list[tuple[str, str]]  # (before TERM, after TERM)
    interrogatives: list[str] = field(default_factory=list)  # after a cloze opening


FAMILIES: dict[Language, list[Family]] = {
    "zh-TW": [
        Family([("", "是什麼？"), ("", "指的是什麼？"), ("", "的意思是什麼？")], ["什麼？"]),
        Family([("", "有哪些用途？"), ("", "有哪些規定？"), ("", "包括哪些內容？")]),
        Family([("", "的用途為何？"), ("", "的規定為何？"), ("", "為何重要？")]),
        Family([("", "有什麼要求？"), ("", "應注意哪些事項？"), ("", "有什麼限制？")]),
        Family([("", "如何辦理？"), ("", "應如何處理？"), ("", "怎麼使用？")]),
        Family([("", "由誰負責？"), ("", "何時使用？"), ("", "在什麼情況下使用？")]),
    ],
    "en": [
        Family([("What is ", "?"), ("What does ", " mean?")]),
        Family([("What are the rules for ", "?"), ("What is required for ", "?")]),
        Family([("How is ", " handled?"), ("How does one use ", "?")]),
        Family([("When is ", " used?"), ("Who is responsible for ", "?")]),
        Family([("Why does ", " matter?"), ("What should one know about ", "?")]),
    ],
}
REGEX_SPECIAL = set("\\^$.|?*+()[]{}/")


def regex_literal(text: str) -> str:
    return "".join("\\" + c if c in REGEX_SPECIAL else c for c in text)


def _alternation(options: Iterable[str]) -> str:
    return "(" + "|".join(regex_literal(o) for o in options) + ")"


def _usable_line(line: str) -> str | None:
    if HEADING.match(line) or SKIPPED_LINE.match(line) or CODE_LINE.search(line):
        return None
    body = EMPHASIS.sub("", LINE_MARKER.sub("", line, count=1)).strip()
    return body or None


def _fitted(sentence: str, language: Language) -> str | None:
    """The sentence, or its opening clauses when it is too long; None when unusable."""
    low, high = ANSWER_CHARS[language]
    text = QA_LABEL.sub("", sentence.strip())
    if text.endswith(("：", ":", "？", "?")):  # introduces a list, or asks: not a fact
        return None
    if len(text) > high:
        opening = ""
        for clause in CLAUSE[language].findall(text):
            if len(opening) + len(clause) > high:
                break
            opening += clause
        text = opening
    text = text.rstrip("；;，,、 ")
    if not low <= len(text) <= high:
        return None
    if (cjk_share(text) >= 0.3) != (language == "zh-TW"):
        return None
    return text


def answer_spans(chunk: str, language: Language) -> list[str]:
    """The chunk's sentences (split on 。！？；, line ends and Markdown structure) that can
    stand as answers, verbatim, in order, without repeats. Headings, tables, code and
    sentences outside the length bounds are skipped; an overlong sentence gives its
    opening clauses (the part that carries its subject)."""
    spans: list[str] = []
    lines = chunk.splitlines()
    # A chunk may begin inside a code block: its first fence is then a bare closing one
    # and code comes before it. A fence naming a language always opens a block.
    first = next((i for i, line in enumerate(lines) if FENCE.match(line)), None)
    inside_code = (
        first is not None
        and len(lines[first].strip()) == 3
        and any(CODE_LINE.search(line) for line in lines[:first])
    )
    for line in lines:
        if FENCE.match(line):
            inside_code = not inside_code if len(line.strip()) == 3 else True
            continue
        body = None if inside_code else _usable_line(line)
        for sentence in SENTENCE[language].findall(body or ""):
            span = _fitted(sentence, language)
            if span and span not in spans:
                spans.append(span)
    return spans


def _heading_terms(heading_path: Sequence[str]) -> list[str]:
    """The nearest heading, whole and split into its parts (呈與咨 → 呈, 咨)."""
    if not heading_path:
        return []
    name = HEADING_NUMBER.sub("", heading_path[-1]).strip()
    return [name, *HEADING_PART.split(name)]


def _zh_terms(answer: str) -> list[str]:
    clause = CLAUSE["zh-TW"].findall(answer)[0].rstrip("，、。！？")
    subject = ZH_PREDICATE.split(ZH_CONNECTIVE.sub("", clause), maxsplit=1)[0]
    segments = [ZH_CONNECTIVE.sub("", s) for s in ZH_SEGMENT_SPLIT.split(answer)]
    segments = [s for s in segments if 2 <= len(s) <= 8]
    return [subject, *segments]


def _en_terms(answer: str) -> list[str]:
    match = EN_SUBJECT.match(answer)
    subject = match.group(1) if match else ""
    words = subject.lower().split()
    if not words or len(words) > 6 or subject.lower() in EN_PRONOUNS:
        return []
    return [] if words[0] in EN_CONNECTIVES else [subject]


def question_terms(answer: str, heading_path: Sequence[str], language: Language) -> list[str]:
    """Phrases a question about `answer` may be built on: its subject, quoted terms and the
    words of the chunk's heading that it uses; else short segments of it (zh-TW); else
    the heading. At most MAX_TERMS."""
    if language == "zh-TW":
        subject, *segments = _zh_terms(answer)
    else:
        subject, segments = next(iter(_en_terms(answer)), ""), []
    # The answer's own subject, quoted terms and heading words come first; its segments
    # only when it has none of those (a tiny model picks a fragment over a subject), the
    # heading only when it offers nothing at all: a question must point at its answer,
    # else the answers of one section share their questions.
    headings = _heading_terms(heading_path)
    used = [h for h in headings if h.lower() in answer.lower()]
    terms = _usable_terms([subject, *QUOTED.findall(answer), *used], language)
    terms = terms or _usable_terms(segments, language) or _usable_terms(headings, language)
    return terms[:MAX_TERMS]


def _usable_terms(found: Iterable[str], language: Language) -> list[str]:
    terms: list[str] = []
    for term in found:
        term = EN_ARTICLE.sub("", term.strip()) if language == "en" else term.strip()
        usable = 0 < len(term) <= MAX_TERM_CHARS[language] and not set(term) & set('"\\\n')
        if usable and (cjk_share(term) >= 0.3) == (language == "zh-TW") and term not in terms:
            terms.append(term)
    return terms


def cloze_prefixes(answer: str, language: Language) -> list[str]:
    """Openings of the answer's first clause that end on a verb such as 用於 or 是
    ("令用於"), for questions like 令用於什麼？ (zh-TW only)."""
    if language != "zh-TW":
        return []
    clause = CLAUSE["zh-TW"].findall(answer)[0].rstrip("，、。！？")
    ends = {m.end() for m in ZH_CLOZE_VERB.finditer(clause)}
    return [clause[:end] for end in sorted(ends) if 2 <= end <= MAX_PREFIX_CHARS]


@dataclass(frozen=True)
class QuestionGrammar:
    """The question patterns of one answer: one per phrasing."""

    patterns: list[str]

    def schema(self) -> Schema:
        """`{"q1": "…", …, "qn": "…"}`; each pattern is finite, so it bounds the length too
        (a `maxLength` beside it would be ignored by the grammar compiler)."""
        return strict_object(
            {f"q{i + 1}": {"type": "string", "pattern": p} for i, p in enumerate(self.patterns)}
        )


def _pattern(
    language: Language,
    terms: Sequence[str],
    templates: Sequence[tuple[str, str]],
    prefixes: Sequence[str],
    interrogatives: Sequence[str],
) -> str:
    forms = []
    if terms:
        by_before: dict[str, list[str]] = {}
        for before, after in templates:
            by_before.setdefault(before, []).append(after)
        forms += [
            regex_literal(before) + _alternation(terms) + _alternation(afters)
            for before, afters in by_before.items()
        ]
    if prefixes and interrogatives:
        forms.append(_alternation(prefixes) + _alternation(interrogatives))
    lead = f"({'|'.join(map(regex_literal, LEAD_INS[language]))})?" if LEAD_INS[language] else ""
    return lead + "(" + "|".join(forms) + ")"


def question_grammar(
    answer: str, heading_path: Sequence[str], language: Language, phrasings: int
) -> QuestionGrammar | None:
    """Patterns for `phrasings` different questions about `answer` (at most one per family
    of endings); None when the answer offers nothing to ask about."""
    terms = question_terms(answer, heading_path, language)
    prefixes = cloze_prefixes(answer, language)
    if not terms and not prefixes:
        return None
    usable = [
        f for f in FAMILIES[language] if (terms and f.templates) or (prefixes and f.interrogatives)
    ]
    slots = min(phrasings, len(usable))
    patterns = []
    for k in range(slots):  # phrasing k gets families k, k + slots, …: never another's
        mine = usable[k::slots]
        templates = [t for f in mine for t in f.templates] if terms else []
        asks = [i for f in mine for i in f.interrogatives] if prefixes else []
        patterns.append(_pattern(language, terms, templates, prefixes, asks))
    return QuestionGrammar(patterns)
