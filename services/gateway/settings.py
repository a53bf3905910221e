"""Settings of the gateway, from `TUNELOOP_GATEWAY_*` (shared ones: `TUNELOOP_*`)."""

from __future__ import annotations

from pathlib import Path
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
    api_key_cache_s: float = Field(
        5.0,
        ge=0,
        description="seconds an API key that passed is trusted without asking the registry "
        "again (a revoked key works at most this long); 0 = check every request",
    )
    batch_max_lines: int = Field(
        50_000, ge=1, description="most requests in one batch's input file (each tenant)"
    )
    batch_max_file_mb: int = Field(
        200, ge=1, description="largest input file of one batch, MiB (each tenant)"
    )
    batch_concurrency: int = Field(
        64, ge=1, le=1024, description="requests of a batch answered at once (engine batches)"
    )
    adapter_max_archive_mb: int = Field(
        512, description="largest adapter archive accepted by POST /v1/adapters, MiB"
    )
    adapter_max_unpacked_mb: int = Field(
        1024, description="largest total size of an adapter archive's files once unpacked, MiB"
    )
    adapter_max_files: int = Field(64, description="most entries an adapter archive may hold")
    adapter_import_dir: Path | None = Field(
        None,
        description="directory vLLM's /v1/load_lora_adapter may load from (lora_path must lie "
        "inside it); unset = that route is refused",
    )
    admin_tenants: list[str] = Field(
        default_factory=list,
        description="tenants whose keys are admin keys (vLLM's load/unload_lora_adapter)",
    )
