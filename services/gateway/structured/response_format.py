"""OpenAI's `response_format` and vLLM's `structured_outputs` → the inference service's
`OutputConstraint`. Checked here, so a bad schema is a 400 naming the field before
anything reaches the inference service."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.structured.schema_check import check_schema
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TextFormat(BaseModel):
    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = "response"
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(BaseModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class StructuredOutputs(BaseModel):
    """vLLM's `structured_outputs` request field: exactly one of the constraints."""

    model_config = ConfigDict(extra="ignore")

    json_schema: dict[str, Any] | str | None = Field(None, alias="json")
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None


def _schema_constraint(schema: Any, param: str) -> inference_pb2.OutputConstraint:
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise InvalidRequestError(f"not JSON: {exc}", param=param) from exc
    checked = check_schema(schema, param)
    return inference_pb2.OutputConstraint(json_schema=json.dumps(checked, ensure_ascii=False))


def from_response_format(
    response_format: TextFormat | JsonObjectFormat | JsonSchemaFormat | None,
) -> inference_pb2.OutputConstraint | None:
    if response_format is None or isinstance(response_format, TextFormat):
        return None
    if isinstance(response_format, JsonObjectFormat):
        return inference_pb2.OutputConstraint(json_object=True)
    spec = response_format.json_schema
    if not NAME.match(spec.name):
        raise InvalidRequestError(
            "json_schema.name must be 1-64 characters of a-z, A-Z, 0-9, _ and -",
            param="response_format.json_schema.name",
        )
    if spec.json_schema is None:
        # OpenAI: no schema means any JSON object.
        return inference_pb2.OutputConstraint(json_object=True)
    return _schema_constraint(spec.json_schema, "response_format.json_schema.schema")


def from_structured_outputs(
    structured: StructuredOutputs | None,
) -> inference_pb2.OutputConstraint | None:
    if structured is None:
        return None
    given = {
        name: value
        for name, value in structured.model_dump(exclude_none=True).items()
        if value is not False
    }
    if len(given) != 1:
        raise InvalidRequestError(
            "structured_outputs needs exactly one of json, regex, choice, grammar, json_object",
            param="structured_outputs",
        )
    if structured.json_schema is not None:
        return _schema_constraint(structured.json_schema, "structured_outputs.json")
    if structured.json_object:
        return inference_pb2.OutputConstraint(json_object=True)
    if structured.regex is not None:
        return inference_pb2.OutputConstraint(regex=structured.regex)
    if structured.choice is not None:
        if not structured.choice:
            raise InvalidRequestError(
                "choice needs at least one value", param="structured_outputs.choice"
            )
        return inference_pb2.OutputConstraint(
            choice=inference_pb2.Choices(values=structured.choice)
        )
    return inference_pb2.OutputConstraint(grammar=structured.grammar or "")


def output_constraint(
    response_format: TextFormat | JsonObjectFormat | JsonSchemaFormat | None,
    structured: StructuredOutputs | None,
) -> inference_pb2.OutputConstraint | None:
    """The one constraint a request asks for (both fields at once is an error)."""
    from_format = from_response_format(response_format)
    from_vllm = from_structured_outputs(structured)
    if from_format is not None and from_vllm is not None:
        raise InvalidRequestError(
            "use response_format or structured_outputs, not both", param="structured_outputs"
        )
    return from_format or from_vllm
