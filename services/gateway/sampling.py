"""Sampling fields shared by chat and completions requests (OpenAI names and ranges)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.generation import MAX_CHOICES, Sampling
from tuneloop_core.errors import InvalidRequestError

# protobuf's int64, less the n choices added to it (each choice gets seed + its index)
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1 - MAX_CHOICES)]


class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingFields(BaseModel):
    """Fields OpenAI's chat and completions requests share. Unknown fields are ignored,
    as OpenAI-compatible servers do, except those that change the answer's meaning."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1)  # vLLM's extension (Ollama's option); -1 or 0: off
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: Seed | None = None
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    user: str | None = None

    def sampling(
        self,
        max_tokens: int | None,
        logprobs: int | None = None,
        prompt_logprobs: int | None = None,
    ) -> Sampling:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > 4:
            raise InvalidRequestError("at most 4 stop sequences are allowed", param="stop")
        return Sampling(
            max_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=max(self.top_k or 0, 0),
            stop=stops,
            seed=self.seed,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            logprobs=logprobs,
            prompt_logprobs=prompt_logprobs,
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
