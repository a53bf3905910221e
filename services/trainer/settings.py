"""Settings of the trainer service, from `TUNELOOP_TRAINER_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_TRAINER_", extra="ignore")

    service_name: ClassVar[str] = "trainer"

    ack_wait_s: float = Field(60.0, description="silence after which a job goes to another worker")
    heartbeat_s: float = Field(10.0, description="in_progress() interval while training")
    control_poll_s: float = Field(2.0, description="how often to check for pause/cancel")
    max_attempts: int = Field(5, description="deliveries before a crashing job is given up")
