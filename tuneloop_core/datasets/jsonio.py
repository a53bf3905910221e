"""Records out of a file: a JSON array (the first non-blank character is `[`) or JSON Lines,
UTF-8 with or without a BOM.

JSONL is read a line at a time, so a file of 100k lines never sits in memory as one
string; a JSON array is loaded whole but decoded element by element, so every record
knows the line it starts on and a syntax error is pinned to the record it breaks.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tuneloop_core.datasets.conversation import Container
from tuneloop_core.datasets.problems import IssueCode, RecordProblem

BOM = b"\xef\xbb\xbf"
PEEK_BYTES = 1 << 16
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class RawRecord:
    """One record as decoded JSON (`value`), or why it could not be (`problem`)."""

    line: int
    record: int
    value: Any = None
    problem: RecordProblem | None = None


def detect_container(path: str | os.PathLike[str]) -> Container | None:
    """JSON_ARRAY when the first non-whitespace character is `[`, JSONL otherwise, None for
    a file with nothing but whitespace (and a BOM)."""
    with open(path, "rb") as file:
        head = file.read(PEEK_BYTES).removeprefix(BOM)
        while head:
            stripped = head.lstrip()
            if stripped:
                return Container.JSON_ARRAY if stripped[:1] == b"[" else Container.JSONL
            head = file.read(PEEK_BYTES)
    return None


def iter_raw_records(path: str | os.PathLike[str], container: Container) -> Iterator[RawRecord]:
    """Every record of the file in order, as decoded JSON or a problem."""
    if container is Container.JSONL:
        yield from _iter_jsonl(path)
    else:
        yield from _iter_json_array(path)


def _iter_jsonl(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    with open(path, "rb") as file:
        for number, raw in enumerate(file, 1):
            data = raw.removeprefix(BOM) if number == 1 else raw
            if not data.strip():
                continue  # blank lines, including a trailing one, are not records
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                yield RawRecord(number, number, problem=_not_utf8())
                continue
            try:
                yield RawRecord(number, number, value=json.loads(text))
            except json.JSONDecodeError as err:
                message = f"not JSON: {err.msg} at column {err.colno}"
                yield RawRecord(number, number, problem=RecordProblem(IssueCode.NOT_JSON, message))


def _iter_json_array(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    with open(path, "rb") as file:
        data = file.read().removeprefix(BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        yield RawRecord(line, 1, problem=_not_utf8())
        return
    decoder = json.JSONDecoder()
    pos = _skip_whitespace(text, text.index("[") + 1)
    line, counted_to = 1 + text.count("\n", 0, pos), pos
    if text.startswith("]", pos):
        yield from _trailing(text, pos + 1, 1)
        return
    number = 0
    while True:
        number += 1
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            yield RawRecord(line, number, problem=_broken_array(err.msg, err.lineno, err.colno))
            return
        yield RawRecord(line, number, value=value)
        pos = _skip_whitespace(text, pos)
        if text.startswith("]", pos):
            yield from _trailing(text, pos + 1, number + 1)
            return
        if not text.startswith(",", pos):
            at_line, column = _position(text, pos)
            problem = _broken_array("expected ',' or ']' after a record", at_line, column)
            yield RawRecord(at_line, number + 1, problem=problem)
            return
        pos = _skip_whitespace(text, pos + 1)


def _trailing(text: str, pos: int, number: int) -> Iterator[RawRecord]:
    """Anything but whitespace after the closing bracket is an error."""
    pos = _skip_whitespace(text, pos)
    if pos < len(text):
        line, column = _position(text, pos)
        message = f"not JSON: extra data after the closing ']' at line {line} column {column}"
        yield RawRecord(line, number, problem=RecordProblem(IssueCode.NOT_JSON, message))


def _skip_whitespace(text: str, pos: int) -> int:
    match = _JSON_WHITESPACE.match(text, pos)
    return match.end() if match else pos


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _broken_array(msg: str, line: int, column: int) -> RecordProblem:
    return RecordProblem(
        IssueCode.NOT_JSON,
        f"not JSON: {msg} at line {line} column {column}; the rest of the array was not read",
    )


def _not_utf8() -> RecordProblem:
    return RecordProblem(IssueCode.NOT_UTF8, "not UTF-8 text")
