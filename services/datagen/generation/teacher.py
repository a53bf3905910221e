"""The teacher: any OpenAI-compatible chat endpoint, called with the official SDK (its own
retries with backoff cover timeouts and 5xx answers).

Every call sends the JSON schema of the answer as a strict `response_format`, so a served
teacher decodes under a grammar and its answer is always that JSON. An external endpoint
that refuses `response_format` (HTTP 400 naming it) is asked without it from then on, and
its answers are parsed: one that is not the JSON asked for, or not the schema, is asked
again a few times, then counted as a failure — never guessed at."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import openai

from services.datagen.generation.schemas import Schema, schema_problem
from services.datagen.generation.spec import Teacher

log = logging.getLogger(__name__)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
# What an endpoint says when it cannot decode under a schema.
REFUSAL = re.compile(
    r"response_format|json_schema|structured output|not supported|unsupported", re.IGNORECASE
)
FORMAT_FAILURES = ("malformed_json", "schema_mismatch")
SCORED_PER_CALL = 16  # texts per /v1/completions call (the gateway takes up to 16 prompts)


class TeacherFailed(Exception):
    """No usable answer: `reason` is "malformed_json" (no JSON object), "schema_mismatch"
    (JSON, but not the schema), "teacher_timeout" (no answer within `timeout_s`, retries
    included), "teacher_error" or "no_logprobs" (a likelihood asked of an endpoint that
    does not score text)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer: the whole answer, a fenced block, or the span
    from its first `{` to its last `}`; None when there is none."""
    candidates = [text.strip(), FENCE.sub("", text).strip()]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def refuses_response_format(error: openai.APIError) -> bool:
    return isinstance(error, openai.BadRequestError) and bool(
        error.param == "response_format" or REFUSAL.search(str(error))
    )


class TeacherClient:
    def __init__(self, teacher: Teacher, default_base_url: str, default_api_key: str):
        self.teacher = teacher
        self.client = openai.AsyncOpenAI(
            base_url=teacher.base_url or default_base_url,
            api_key=teacher.api_key or default_api_key,
            timeout=teacher.timeout_s,
            max_retries=teacher.max_retries,
        )
        self.calls = Counter[str]()  # "ok" or a TeacherFailed reason
        # False once an external endpoint refused `response_format`; the served teacher
        # (the gateway) always decodes under the schema.
        self.constrained = True

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def _failed(exc: openai.APIError) -> TeacherFailed:
        reason = "teacher_timeout" if isinstance(exc, openai.APITimeoutError) else "teacher_error"
        return TeacherFailed(reason, str(exc))

    async def loglikelihoods(self, items: Sequence[tuple[str, str]]) -> list[float]:
        """log P(continuation | context) for each (context, continuation), summed over the
        continuation's tokens (a token that straddles the two counts with it). Scored with
        `/v1/completions` echo + logprobs and max_tokens 0, up to SCORED_PER_CALL at once."""
        values: list[float] = []
        for start in range(0, len(items), SCORED_PER_CALL):
            batch = items[start : start + SCORED_PER_CALL]
            try:
                reply = await self.client.completions.create(
                    model=self.teacher.model,
                    prompt=[c + continuation for c, continuation in batch],
                    max_tokens=0,
                    echo=True,
                    logprobs=0,
                    temperature=0.0,
                )
            except openai.APIError as exc:
                failed = self._failed(exc)
                self.calls[failed.reason] += 1
                raise failed from exc
            choices = sorted(reply.choices, key=lambda c: c.index)
            for (context, _), choice in zip(batch, choices, strict=True):
                logprobs = choice.logprobs
                if logprobs is None or not logprobs.text_offset or not logprobs.token_logprobs:
                    self.calls["no_logprobs"] += 1
                    raise TeacherFailed("no_logprobs", "the endpoint returned no logprobs")
                ends = [*logprobs.text_offset[1:], len(choice.text)]
                values.append(
                    sum(
                        lp
                        for lp, end in zip(logprobs.token_logprobs, ends, strict=True)
                        if lp is not None and end > len(context)
                    )
                )
            self.calls["ok"] += 1
        return values

    async def _reply(self, prompt: str, attempt: int, name: str, schema: Schema) -> str:
        while True:
            constrained = self.constrained
            response_format: Any = (
                {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                }
                if constrained
                else openai.omit
            )
            try:
                reply = await self.client.chat.completions.create(
                    model=self.teacher.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=0.0 if attempt == 0 else 0.7,
                    # None: the endpoint's default (the gateway: what the context leaves)
                    max_tokens=self.teacher.max_tokens or openai.omit,
                    response_format=response_format,
                )
            except openai.APIError as exc:  # after the SDK's own retries
                if constrained and self.teacher.base_url and refuses_response_format(exc):
                    if self.constrained:
                        log.warning("teacher refused response_format, parsing instead: %s", exc)
                    self.constrained = False
                    continue
                failed = self._failed(exc)
                self.calls[failed.reason] += 1
                raise failed from exc
            return reply.choices[0].message.content or ""

    async def ask_json(self, prompt: str, name: str, schema: Schema) -> dict[str, Any]:
        """The teacher's answer to `prompt`: a JSON object valid against `schema` (greedy,
        so a re-ask is a fresh sample only at the higher temperature of a retry)."""
        reason, detail = "malformed_json", ""
        for attempt in range(self.teacher.json_retries + 1):
            text = await self._reply(prompt, attempt, name, schema)
            parsed = parse_json_object(text)
            problem = "not JSON" if parsed is None else schema_problem(parsed, schema)
            if parsed is not None and problem is None:
                self.calls["ok"] += 1
                return parsed
            reason = "malformed_json" if parsed is None else "schema_mismatch"
            detail = f"{problem}: {text[:160]}"
            log.info("teacher answer (attempt %d) is %s", attempt + 1, detail)
        self.calls[reason] += 1
        raise TeacherFailed(reason, detail)
