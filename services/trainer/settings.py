"""Settings of the trainer service, from `TUNELOOP_TRAINER_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_TRAINER_", extra="ignore")

    service_name: ClassVar[str] = "trainer"
