"""Settings of the gateway, from `TUNELOOP_GATEWAY_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import DEFAULT_HTTP_PORT, ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_GATEWAY_", extra="ignore")

    service_name: ClassVar[str] = "gateway"

    host: str = Field("127.0.0.1", description="HTTP bind address")
    port: int = Field(DEFAULT_HTTP_PORT, description="HTTP port; 0 = any free port")
    max_upload_mb: int = Field(512, description="largest accepted upload, MiB")
    max_request_mb: int = Field(16, description="largest request body other than uploads, MiB")
    rpc_timeout_s: float = Field(30.0, description="deadline of unary calls to services")
    health_timeout_s: float = Field(2.0, description="deadline of each /readyz probe")
