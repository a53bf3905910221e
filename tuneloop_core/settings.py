"""Runtime settings from the environment (pydantic-settings).

`CommonSettings` (prefix `TUNELOOP_`) holds what every process shares: the data
directory, NATS, the registry database and where each service listens. Each service
subclasses `ServiceSettings` with its own prefix, `TUNELOOP_<SERVICE>_`, for its own knobs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Default gRPC ports, one per service; `tuneloop up` and docker-compose use the same.
DEFAULT_GRPC_PORTS = {
    "gateway": 50150,
    "inference": 50151,
    "trainer": 50152,
    "datagen": 50153,
    "evaluator": 50154,
}
SERVICE_NAMES = tuple(DEFAULT_GRPC_PORTS)
# Not 4222: a system NATS may already listen there.
DEFAULT_NATS_PORT = 4333
DEFAULT_HTTP_PORT = 8000


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/tuneloop`, i.e. `~/.local/share/tuneloop` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tuneloop"


class CommonSettings(BaseSettings):
    """Shared by every service; read from `TUNELOOP_*`."""

    model_config = SettingsConfigDict(env_prefix="TUNELOOP_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="artifacts, registry")
    nats_url: str = Field(f"nats://127.0.0.1:{DEFAULT_NATS_PORT}", description="JetStream")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite in data_dir")
    qdrant_url: str = Field("", description="Qdrant server; empty = embedded in data_dir/qdrant")
    log_level: str = "INFO"
    log_json: bool = Field(True, description="one JSON object per log line")
    gateway_url: str = Field(
        f"http://127.0.0.1:{DEFAULT_HTTP_PORT}", description="the gateway's HTTP API, as dialled"
    )
    gateway_addr: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS['gateway']}"
    inference_addr: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS['inference']}"
    trainer_addr: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS['trainer']}"
    datagen_addr: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS['datagen']}"
    evaluator_addr: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS['evaluator']}"

    @model_validator(mode="after")
    def _fill_database_url(self) -> CommonSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'registry.db'}"
        return self

    def service_addrs(self) -> dict[str, str]:
        """gRPC address of every service by name."""
        return {name: getattr(self, f"{name}_addr") for name in SERVICE_NAMES}


class ServiceSettings(BaseSettings):
    """Base of each service's settings; subclasses set `env_prefix=TUNELOOP_<SERVICE>_`."""

    model_config = SettingsConfigDict(extra="ignore")

    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = Field(None, description="None = the service's default; 0 = any free")
    shutdown_grace_s: float = Field(10.0, description="seconds in-flight RPCs may finish")
    metrics_port: int | None = Field(
        None, description="Prometheus /metrics port (gRPC services); None = off, 0 = any free"
    )
    common: CommonSettings = Field(default_factory=CommonSettings)

    service_name: ClassVar[str] = "service"

    def grpc_bind(self) -> str:
        port = DEFAULT_GRPC_PORTS[self.service_name] if self.grpc_port is None else self.grpc_port
        return f"{self.grpc_host}:{port}"
