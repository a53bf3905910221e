"""The rows of an eval run, read one way by the gateway (to refuse a bad file at once) and
the evaluator (to grade it): JSONL, each line `{"item": {...}, "sample": {...}}` (OpenAI's
shape; `sample` only where the samples are given) or the item object alone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs.eval_run import MAX_ROWS


def plain(value: Any) -> Any:
    """JSON from a protobuf Struct with whole numbers as ints again (Struct keeps every
    number as a double, and `{{item.n}}` should read 3, not 3.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def row(value: Any, where: str, param: str) -> dict[str, Any]:
    """One row as {"item": {...}, "sample": {...} | None}."""
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"{where} is not a JSON object", param=param)
    if isinstance(value.get("item"), Mapping):
        sample = value.get("sample")
        if sample is not None and not isinstance(sample, Mapping):
            raise InvalidRequestError(f"{where}: `sample` is not a JSON object", param=param)
        return {"item": dict(value["item"]), "sample": dict(sample) if sample else None}
    if "item" in value:
        raise InvalidRequestError(f"{where}: `item` is not a JSON object", param=param)
    return {"item": dict(value), "sample": None}


def parse_lines(lines: Iterable[bytes | str], param: str) -> list[dict[str, Any]]:
    """The rows of a JSONL file; InvalidRequestError naming the first bad line."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise InvalidRequestError(f"line {number} is not JSON: {exc}", param=param) from None
        rows.append(row(value, f"line {number}", param))
        if len(rows) > MAX_ROWS:
            raise InvalidRequestError(f"a run grades at most {MAX_ROWS} items", param=param)
    if not rows:
        raise InvalidRequestError("the file has no rows", param=param)
    return rows
