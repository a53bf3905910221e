"""A batch's input lines and the records it writes for them, in OpenAI's shapes.

Input: JSONL of `{custom_id, method: "POST", url, body}`. A malformed line (bad JSON, no
custom_id, a custom_id seen before, a url other than the batch's endpoint) becomes an error
record naming its line number, and the rest run. Every record's id ends in its line number
(`batch_req_<n>_<random>`), so a resumed batch knows which lines are done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.gateway.ids import PREFIXES, new_id
from tuneloop_core.errors import InvalidRequestError, TuneloopError

REQUEST_PREFIX = PREFIXES["batch_request"]


@dataclass(frozen=True)
class Line:
    """One input line: its request, or why it cannot run."""

    number: int  # 1-based, as an editor shows it
    custom_id: str | None
    body: dict[str, Any] | None
    problem: TuneloopError | None = None


def count_lines(data: bytes) -> int:
    """Requests in an input file: its non-blank lines."""
    return sum(1 for raw in data.splitlines() if raw.strip())


def _line(number: int, raw: bytes, endpoint: str, seen: set[str]) -> Line:
    def bad(message: str, param: str, custom_id: str | None = None) -> Line:
        problem = InvalidRequestError(f"line {number}: {message}", param=param, code="invalid_line")
        return Line(number, custom_id, None, problem)

    try:
        value = json.loads(raw)
    except ValueError as exc:
        return bad(f"not valid JSON ({exc})", "input_file_id")
    if not isinstance(value, dict):
        return bad("not a JSON object", "input_file_id")
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return bad("custom_id must be a non-empty string", "custom_id")
    if custom_id in seen:
        return bad(f"custom_id '{custom_id}' is used by an earlier line", "custom_id", custom_id)
    seen.add(custom_id)
    if value.get("method", "POST") != "POST":
        return bad("method must be POST", "method", custom_id)
    if value.get("url") != endpoint:
        return bad(f"url must be the batch's endpoint {endpoint}", "url", custom_id)
    body = value.get("body")
    if not isinstance(body, dict):
        return bad("body must be a JSON object", "body", custom_id)
    return Line(number, custom_id, body)


def parse_lines(data: bytes, endpoint: str) -> list[Line]:
    """Every non-blank line of an input file, in order."""
    seen: set[str] = set()
    return [
        _line(number, raw, endpoint, seen)
        for number, raw in enumerate(data.splitlines(), start=1)
        if raw.strip()
    ]


def request_id(line: Line) -> str:
    return new_id(f"{REQUEST_PREFIX}{line.number}_", 20)


def line_of(record_id: str) -> int | None:
    """The line number a record's id ends in; None for an id this module did not write."""
    number = record_id.removeprefix(REQUEST_PREFIX).split("_", 1)[0]
    return int(number) if record_id.startswith(REQUEST_PREFIX) and number.isdigit() else None


def output_record(line: Line, body: dict[str, Any]) -> dict[str, Any]:
    """An answered request, as a line of OpenAI's output file."""
    rid = request_id(line)
    return {
        "id": rid,
        "custom_id": line.custom_id,
        "response": {"status_code": 200, "request_id": rid, "body": body},
        "error": None,
    }


def error_record(line: Line, exc: TuneloopError) -> dict[str, Any]:
    """A failed request or a malformed line, as a line of OpenAI's error file: the endpoint's
    error response when the request ran, null when the line never became one."""
    rid = request_id(line)
    message = (
        exc.message if exc.message.startswith("line ") else f"line {line.number}: {exc.message}"
    )
    return {
        "id": rid,
        "custom_id": line.custom_id,
        "response": None
        if line.body is None
        else {"status_code": exc.http_status, "request_id": rid, "body": exc.envelope()},
        "error": {"code": exc.code, "message": message},
    }
