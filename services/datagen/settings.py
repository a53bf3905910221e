"""Settings of the datagen service, from `TUNELOOP_DATAGEN_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import ServiceSettings


class DatagenSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_DATAGEN_", extra="ignore")

    service_name: ClassVar[str] = "datagen"

    # How often a running job asks the gateway whether it was cancelled, in seconds.
    control_poll_s: float = Field(2.0, gt=0)
