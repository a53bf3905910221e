"""Settings of the inference service, from `TUNELOOP_INFERENCE_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_INFERENCE_", extra="ignore")

    service_name: ClassVar[str] = "inference"
