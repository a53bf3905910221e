"""Settings of the evaluator service, from `TUNELOOP_EVALUATOR_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import ServiceSettings


class EvaluatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_EVALUATOR_", extra="ignore")

    service_name: ClassVar[str] = "evaluator"
