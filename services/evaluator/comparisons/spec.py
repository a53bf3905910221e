"""What a comparison job asks for, read from the job request the gateway checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from tuneloop_core.errors import InvalidRequestError


@dataclass(frozen=True)
class ComparisonSpec:
    models: list[str]
    questions: list[str]
    max_tokens: int
    temperature: float
    top_p: float
    system: str  # empty: no system message


def _strings(spec: dict[str, Any], field: str) -> list[str]:
    value = spec.get(field)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidRequestError(f"the job's {field} is not a list of strings", param=field)
    return value


def parse_spec(spec: struct_pb2.Struct) -> ComparisonSpec:
    """The spec; the gateway validated it, so a bad one here is a stale or forged request."""
    data = MessageToDict(spec)
    # A protobuf Struct holds every number as a double.
    return ComparisonSpec(
        models=_strings(data, "models"),
        questions=_strings(data, "questions"),
        max_tokens=int(data.get("max_tokens", 256)),
        temperature=float(data.get("temperature", 0.0)),
        top_p=float(data.get("top_p", 1.0)),
        system=str(data.get("system") or ""),
    )
