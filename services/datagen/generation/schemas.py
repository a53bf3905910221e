"""The JSON the teacher must answer with, as JSON schemas. A served teacher decodes under
them (grammar-constrained, strict), so a reply is always valid; every string has a
`maxLength` (or a finite `pattern`) and every array a `maxItems`, so even a tiny model
cannot run on forever. The same schemas check a reply from an endpoint that decodes
freely (`schema_problem`)."""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]

MAX_QUESTION_CHARS = 80
MAX_ANSWER_CHARS = 200
MAX_REASONING_CHARS = 160
MAX_REASON_CHARS = 120
JUDGE_SCORES = [0, 1, 2, 3, 4, 5]


def text(max_length: int) -> Schema:
    return {"type": "string", "maxLength": max_length}


def strict_object(properties: dict[str, Schema]) -> Schema:
    """An object with exactly these keys, in this order (OpenAI's strict mode needs every
    key required and no others; the grammar writes them in order)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def pairs_schema(n: int, reasoning: bool) -> Schema:
    """Free generation: `{"pairs": [{"question", "answer"[, "reasoning"]}, …]}`, 1–n pairs."""
    item = {"question": text(MAX_QUESTION_CHARS), "answer": text(MAX_ANSWER_CHARS)}
    if reasoning:
        item["reasoning"] = text(MAX_REASONING_CHARS)
    pairs = {"type": "array", "items": strict_object(item), "minItems": 1, "maxItems": n}
    return strict_object({"pairs": pairs})


def judge_schema() -> Schema:
    """`{"score": 0–5, "reason": "…"}`, the score first so a short reply still has it."""
    return strict_object(
        {"score": {"type": "integer", "enum": JUDGE_SCORES}, "reason": text(MAX_REASON_CHARS)}
    )


def refine_schema() -> Schema:
    return strict_object({"question": text(MAX_QUESTION_CHARS), "answer": text(MAX_ANSWER_CHARS)})


def _type_problem(value: Any, kind: str) -> bool:
    if kind == "object":
        return not isinstance(value, dict)
    if kind == "array":
        return not isinstance(value, list)
    if kind == "string":
        return not isinstance(value, str)
    if kind == "integer":
        return isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    return False


def schema_problem(value: Any, schema: Schema, at: str = "$") -> str | None:
    """Why `value` breaks `schema` (the subset the schemas above use: type, properties,
    required, additionalProperties, items, min/maxItems, maxLength, enum), or None.
    `pattern` is not checked: it steers a constrained decoder towards good wording, it is
    not a quality gate (the pipeline's rules, near-duplicate filter and judge are)."""
    kind = schema.get("type")
    if isinstance(kind, str) and _type_problem(value, kind):
        return f"{at}: not a {kind}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{at}: {json.dumps(value, ensure_ascii=False)[:40]} is not one of {schema['enum']}"
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return f"{at}: longer than {schema['maxLength']} characters"
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return f"{at}: {len(value)} items"
        for i, item in enumerate(value):
            if problem := schema_problem(item, schema.get("items", {}), f"{at}[{i}]"):
                return problem
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties", {})
        missing = [key for key in schema.get("required", []) if key not in value]
        if missing:
            return f"{at}: missing {', '.join(missing)}"
        if schema.get("additionalProperties") is False and set(value) - set(properties):
            return f"{at}: unexpected {', '.join(sorted(set(value) - set(properties)))}"
        for key, sub in properties.items():
            if key in value and (problem := schema_problem(value[key], sub, f"{at}.{key}")):
                return problem
    return None
