"""The questions of a comparison, typed or from an uploaded JSON array of strings (the
format people already keep their test questions in), checked before any job starts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from services.gateway.files.service import input_file
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop_core.errors import InvalidRequestError

MAX_QUESTIONS = 200
# Characters; a question is a prompt, not a document. With MAX_QUESTIONS this keeps the
# job request (which carries the questions) well under NATS's 1 MiB message limit.
MAX_QUESTION_CHARS = 1000
MAX_FILE_BYTES = 1 << 20

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def check_questions(value: Any, param: str) -> list[str]:
    """A non-empty list of non-empty strings within the caps, or a 400 naming `param`."""
    if not isinstance(value, list):
        raise InvalidRequestError(
            f"{param} must be a JSON array of strings, not {_json_type(value)}",
            param=param,
            code="invalid_questions",
        )
    if not value:
        raise InvalidRequestError(
            f"{param} has no questions", param=param, code="invalid_questions"
        )
    if len(value) > MAX_QUESTIONS:
        raise InvalidRequestError(
            f"{param} has {len(value)} questions; at most {MAX_QUESTIONS} are allowed",
            param=param,
            code="invalid_questions",
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidRequestError(
                f"{param}[{index}] must be a string, not {_json_type(item)}",
                param=param,
                code="invalid_questions",
            )
        if not item.strip():
            raise InvalidRequestError(
                f"{param}[{index}] is empty", param=param, code="invalid_questions"
            )
        if len(item) > MAX_QUESTION_CHARS:
            raise InvalidRequestError(
                f"{param}[{index}] has {len(item)} characters; at most "
                f"{MAX_QUESTION_CHARS} are allowed",
                param=param,
                code="invalid_questions",
            )
    return [item.strip() for item in value]


def _head(state: GatewayState, path: str, size: int) -> bytes:
    with state.artifacts.open(path) as handle:
        return handle.read(size)


async def questions_from_file(state: GatewayState, tenant: Tenant, file_id: str) -> list[str]:
    """The questions in one of the tenant's files."""
    param = "questions_file"
    file = await input_file(state, tenant, file_id, param)
    if file.bytes > MAX_FILE_BYTES:
        raise InvalidRequestError(
            f"File '{file_id}' has {file.bytes} bytes; a questions file may have at most "
            f"{MAX_FILE_BYTES}",
            param=param,
            code="invalid_questions",
        )
    raw = await asyncio.to_thread(_head, state, file.path, MAX_FILE_BYTES + 1)
    try:
        # utf-8-sig: files saved by Windows editors often start with a BOM.
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidRequestError(
            f"File '{file_id}' is not UTF-8 text", param=param, code="invalid_questions"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"File '{file_id}' is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); expected an array of strings",
            param=param,
            code="invalid_questions",
        ) from None
    return check_questions(data, param)
