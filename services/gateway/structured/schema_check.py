"""Checks a JSON schema before it becomes a grammar: it must be a valid schema, and use only
keywords constrained decoding enforces. A keyword the grammar would silently drop
(`not`, `if`, `patternProperties`, `uniqueItems`, …) is refused, naming it and where it is,
so nobody gets output that only looks validated."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tuneloop_core.errors import InvalidRequestError

# Enforced by the grammar (xgrammar's JSON-schema converter).
ENFORCED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "definitions", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "format", "minProperties", "maxProperties",
    }
)  # fmt: skip
# Annotations: they say something to people and models, and constrain nothing.
ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default",
        "examples", "deprecated", "readOnly", "writeOnly", "discriminator", "nullable",
        "strict",
    }
)  # fmt: skip
# Keywords whose values are schemas, and those whose values are lists or maps of schemas.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_LIST = ("prefixItems", "anyOf", "oneOf", "allOf")
_MAP = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")


def _walk(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        return
    for keyword in schema:
        if keyword not in ENFORCED and keyword not in ANNOTATIONS:
            raise InvalidRequestError(
                f"JSON-schema keyword {keyword!r} at {where} is not supported by constrained "
                f"decoding; supported: {', '.join(sorted(ENFORCED))}",
                code="unsupported_schema_keyword",
            )
    for keyword in _ONE:
        if isinstance(schema.get(keyword), dict):
            _walk(schema[keyword], f"{where}/{keyword}")
    for keyword in _LIST:
        for index, sub in enumerate(schema.get(keyword) or []):
            _walk(sub, f"{where}/{keyword}/{index}")
    for keyword in _MAP:
        for name, sub in (schema.get(keyword) or {}).items():
            _walk(sub, f"{where}/{keyword}/{name}")


def check_schema(schema: Any, param: str) -> dict[str, Any]:
    """`schema` if it is a valid JSON schema (an object) using only enforced keywords;
    else an InvalidRequestError on `param` that says why."""
    if not isinstance(schema, dict):
        raise InvalidRequestError("a JSON schema must be an object", param=param)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidRequestError(
            f"invalid JSON schema at {at}: {exc.message}", param=param, code="invalid_schema"
        ) from exc
    try:
        _walk(schema, "#")
    except InvalidRequestError as exc:
        exc.param = param
        raise
    return schema
