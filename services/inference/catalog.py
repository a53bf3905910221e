"""Which model names this process serves: base models (one engine each) and adapters.

A tenant sees the base models and its own adapters only; another tenant's adapter is
reported exactly like a model that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from services.inference.engines.base import Engine
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.basemodels import NO_BASE_MODEL
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
        self._in_flight: dict[int, int] = {}  # id(engine) → Generate calls running on it
        self._idle: dict[int, asyncio.Event] = {}  # id(engine) → set when that count hits 0

    def add_base(self, engine: Engine) -> None:
        self._engines[engine.base.name] = engine

    def remove_base(self, name: str) -> Engine:
        """Stop serving a base model and every adapter on it; returns its engine (to close
        once `in_flight` drops to 0)."""
        engine = self.engine_for_base(name)
        del self._engines[name]
        for adapter in [n for n, s in self._adapters.items() if s.engine is engine]:
            del self._adapters[adapter]
        ADAPTERS_LOADED.set(len(self._adapters))
        return engine

    @contextlib.contextmanager
    def generating(self, engine: Engine) -> Iterator[None]:
        """Count a generation on `engine` while it runs (an unload waits for them)."""
        self._in_flight[id(engine)] = self._in_flight.get(id(engine), 0) + 1
        try:
            yield
        finally:
            self._in_flight[id(engine)] -= 1
            if not self._in_flight[id(engine)]:
                del self._in_flight[id(engine)]
                if (idle := self._idle.pop(id(engine), None)) is not None:
                    idle.set()

    async def drained(self, engine: Engine, timeout_s: float) -> int:
        """Wait up to `timeout_s` for `engine`'s generations to end; how many still run."""
        if id(engine) in self._in_flight:
            idle = self._idle.setdefault(id(engine), asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), timeout_s)
        return self._in_flight.get(id(engine), 0)

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
            origin=request.origin or inference_pb2.ADAPTER_ORIGIN_TRAINED,
            file_id=request.file_id,
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
            raise self._unknown(name, tenant_id)
        return served

    def _unknown(self, name: str, tenant_id: str) -> NotFoundError:
        """Not found, saying what the tenant can use instead (or that nothing is installed)."""
        if not self._engines:
            return NotFoundError(
                f"The model '{name}' does not exist: {NO_BASE_MODEL}",
                param="model",
                code="model_not_found",
            )
        shown = ", ".join(m.name for m in self.list(tenant_id))
        return NotFoundError(
            f"The model '{name}' does not exist; available: {shown}",
            param="model",
            code="model_not_found",
        )

    def list(self, tenant_id: str) -> list[inference_pb2.ModelInfo]:
        bases = [self.base_info(e) for e in self._engines.values()]
        adapters = [s.info for s in self._adapters.values() if s.info.tenant_id == tenant_id]
        return sorted(bases, key=lambda m: m.name) + sorted(adapters, key=lambda m: m.name)
