"""The teacher: any OpenAI-compatible chat endpoint, called with the official SDK (its own
retries with backoff cover timeouts and 5xx answers). An answer that is not the JSON asked
for is asked again a few times, then counted as a failure — never guessed at."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

import openai

from services.datagen.generation.spec import Teacher

log = logging.getLogger(__name__)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class TeacherFailed(Exception):
    """No usable answer: `reason` is "malformed_json", "teacher_timeout" (no answer within
    `timeout_s`, retries included) or "teacher_error"."""

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

    async def close(self) -> None:
        await self.client.close()

    async def ask_json(self, prompt: str) -> dict[str, Any]:
        """The teacher's JSON answer to `prompt` (greedy, so a re-ask is a fresh sample only
        when the endpoint samples anyway)."""
        last = ""
        for attempt in range(self.teacher.json_retries + 1):
            try:
                reply = await self.client.chat.completions.create(
                    model=self.teacher.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=0.0 if attempt == 0 else 0.7,
                    # None: the endpoint's default (the gateway: what the context leaves)
                    max_tokens=self.teacher.max_tokens or openai.omit,
                )
            except openai.APIError as exc:  # after the SDK's own retries
                reason = (
                    "teacher_timeout"
                    if isinstance(exc, openai.APITimeoutError)
                    else "teacher_error"
                )
                self.calls[reason] += 1
                raise TeacherFailed(reason, str(exc)) from exc
            last = reply.choices[0].message.content or ""
            parsed = parse_json_object(last)
            if parsed is not None:
                self.calls["ok"] += 1
                return parsed
            log.info("teacher answer is not JSON (attempt %d): %.80s", attempt + 1, last)
        self.calls["malformed_json"] += 1
        raise TeacherFailed("malformed_json", last[:200])
