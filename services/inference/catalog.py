"""Which model names this process serves: base models (one engine each) and adapters.

A tenant sees the base models and its own adapters only; another tenant's adapter is
reported exactly like a model that does not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.inference.engines.base import Engine
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import NotFoundError
from tuneloop_core.metrics import ADAPTERS_LOADED


@dataclass
class Served:
    """A servable name: the engine behind it and, for an adapter, its adapter name."""

    engine: Engine
    adapter: str | None
    info: inference_pb2.ModelInfo


def not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"The model '{name}' does not exist", param="model", code="model_not_found"
    )


class Catalog:
    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._adapters: dict[str, Served] = {}

    def add_base(self, engine: Engine) -> None:
        self._engines[engine.base.name] = engine

    def engines(self) -> list[Engine]:
        return list(self._engines.values())

    def engine_for_base(self, base: str) -> Engine:
        try:
            return self._engines[base]
        except KeyError:
            raise not_found(base) from None

    def base_info(self, engine: Engine) -> inference_pb2.ModelInfo:
        return inference_pb2.ModelInfo(
            name=engine.base.name,
            kind=inference_pb2.MODEL_KIND_BASE,
            path=str(engine.base.path),
            context_length=engine.context_length,
        )

    def add_adapter(self, engine: Engine, request: inference_pb2.LoadAdapterRequest) -> Served:
        info = inference_pb2.ModelInfo(
            name=request.name,
            kind=inference_pb2.MODEL_KIND_ADAPTER,
            parent=engine.base.name,
            path=request.path,
            job_id=request.job_id,
            epoch=request.epoch,
            context_length=engine.context_length,
            tenant_id=request.tenant_id,
            created_at=int(time.time()),
        )
        served = Served(engine=engine, adapter=request.name, info=info)
        self._adapters[request.name] = served
        ADAPTERS_LOADED.set(len(self._adapters))
        return served

    def remove_adapter(self, name: str, tenant_id: str) -> Served:
        served = self.resolve(name, tenant_id)
        if served.adapter is None:
            raise not_found(name)  # base models are not unloaded through the API
        del self._adapters[name]
        ADAPTERS_LOADED.set(len(self._adapters))
        return served

    def resolve(self, name: str, tenant_id: str) -> Served:
        if name in self._engines:
            engine = self._engines[name]
            return Served(engine=engine, adapter=None, info=self.base_info(engine))
        served = self._adapters.get(name)
        if served is None or served.info.tenant_id != tenant_id:
            raise not_found(name)
        return served

    def list(self, tenant_id: str) -> list[inference_pb2.ModelInfo]:
        bases = [self.base_info(e) for e in self._engines.values()]
        adapters = [s.info for s in self._adapters.values() if s.info.tenant_id == tenant_id]
        return sorted(bases, key=lambda m: m.name) + sorted(adapters, key=lambda m: m.name)
