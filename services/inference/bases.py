"""Base models served without a restart.

At start the process loads every base installed under `<data_dir>/models` (or the names
`base_models` lists) and the `gguf_models`. Afterwards it reconciles what it serves with that
directory whenever `tuneloop models pull|add|remove` announces a change on `models.base`, and
every `rescan_s` seconds as the fallback for an announcement it missed. Loading runs in a
background task (engines load their weights off the event loop), so the models already
loaded keep answering meanwhile. A removed base stops taking requests at once; those running
get `unload_grace_s` to finish before its engine is shut down and its memory freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg

from services.inference.catalog import Catalog
from services.inference.engines.base import BaseModelSpec, Engine
from services.inference.engines.factory import build_engine
from services.inference.settings import InferenceSettings
from tuneloop.events.v1 import events_pb2
from tuneloop_core import basemodels
from tuneloop_core.basemodels import NO_BASE_MODEL
from tuneloop_core.bus import subjects
from tuneloop_core.errors import NotFoundError

log = logging.getLogger(__name__)

# The "no base model installed" warning repeats at most this often while none is (seconds).
NO_BASE_LOG_EVERY_S = 60.0

EngineBuilder = Callable[[InferenceSettings, BaseModelSpec], Engine]


@dataclass(frozen=True)
class Installed:
    """A base model found in the models directory, and what identifies this install of it."""

    spec: BaseModelSpec
    installed_at: int  # unix seconds from its metadata: a pull --force or re-add changes it


def _is_path(name: str) -> bool:
    return "/" in name or name.startswith("~")


class BaseModels:
    def __init__(
        self, settings: InferenceSettings, catalog: Catalog, build: EngineBuilder = build_engine
    ):
        self.settings = settings
        self.catalog = catalog
        self._build = build
        self._dynamic: set[str] = set()  # loaded from the models directory: rescanned
        self._failed: dict[str, Installed] = {}  # not retried until it changes
        self._lock = asyncio.Lock()  # one reconcile at a time
        self._wake = asyncio.Event()
        self._no_base_logged_at = -math.inf

    def installed(self) -> dict[str, Installed]:
        """The bases this process should serve from the models directory, by name."""
        data_dir = self.settings.common.data_dir
        if not self.settings.base_models:
            infos = basemodels.list_models(data_dir)
        else:  # only the names listed; a listed one not installed yet may come later
            infos = []
            for name in self.settings.base_models:
                if not _is_path(name):
                    with contextlib.suppress(NotFoundError):
                        infos.append(basemodels.resolve(name, data_dir))
        return {i.name: Installed(BaseModelSpec(i.name, Path(i.path)), i.created_at) for i in infos}

    async def start(self) -> None:
        """Load what is configured and installed (a configured directory or GGUF that fails to
        load fails the start, as a settings error should)."""
        data_dir = self.settings.common.data_dir
        paths = [basemodels.resolve(n, data_dir) for n in self.settings.base_models if _is_path(n)]
        fixed = [BaseModelSpec(info.name, Path(info.path)) for info in paths]
        fixed += [BaseModelSpec(n, Path(p)) for n, p in self.settings.gguf_models.items()]
        for spec in fixed:
            await self._start_engine(spec)
        await self.reconcile()
        installed = {e.base.name for e in self.catalog.engines()}
        for name in self.settings.base_models:
            if not _is_path(name) and name not in installed and name not in self._failed:
                log.warning("base model %s is not installed yet: served once it is", name)

    async def reconcile(self) -> None:
        """Serve what is installed now: load the new bases, unload the removed ones."""
        async with self._lock:
            installed = await asyncio.to_thread(self.installed)
            for name in sorted(self._dynamic - set(installed)):
                await self.unload(name)
            for name, found in sorted(installed.items()):
                if name in self._dynamic or self._failed.get(name) == found:
                    continue
                if name in {e.base.name for e in self.catalog.engines()}:
                    continue  # served from a configured path under the same name
                try:
                    await self._start_engine(found.spec)
                except Exception as exc:  # a broken install must not stop the others
                    log.error("could not load base model %s (%s): %s", name, found.spec.path, exc)
                    self._failed[name] = found
                    continue
                self._failed.pop(name, None)
                self._dynamic.add(name)
            for name in set(self._failed) - set(installed):
                del self._failed[name]
            self._warn_if_none()

    async def _start_engine(self, spec: BaseModelSpec) -> None:
        started = time.monotonic()
        engine = self._build(self.settings, spec)
        try:
            await engine.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await engine.close()
            raise
        self.catalog.add_base(engine)
        log.info("serving base model %s (loaded in %.1f s)", spec.name, time.monotonic() - started)

    async def unload(self, name: str) -> None:
        """Stop serving `name` and its adapters; shut its engine down once its running
        requests finish (or `unload_grace_s` passes: then they fail)."""
        engine = self.catalog.remove_base(name)
        self._dynamic.discard(name)
        if left := await self.catalog.drained(engine, self.settings.unload_grace_s):
            log.warning("unloading %s with %d requests still running: they fail", name, left)
        await engine.close()
        del engine
        gc.collect()  # the weights go now, not at some later collection
        log.info("unloaded base model %s: it was removed", name)

    def _warn_if_none(self) -> None:
        if self.catalog.engines():
            return
        now = time.monotonic()
        if now - self._no_base_logged_at >= NO_BASE_LOG_EVERY_S:
            self._no_base_logged_at = now
            log.warning(NO_BASE_MODEL)

    async def run(self, stop: asyncio.Event, nc: Client | None) -> None:
        """Reconcile on every announcement and every `rescan_s`, until `stop` is set."""

        async def on_message(msg: Msg) -> None:
            try:
                event = events_pb2.BaseModelChanged.FromString(msg.data)
            except Exception:
                log.warning("undecodable message on %s", msg.subject)
                return
            change = events_pb2.BaseModelChange.Name(event.change)
            log.info("announced: base model %s %s", event.name, change)
            self._wake.set()

        subscription = None
        if nc is not None:
            subscription = await nc.subscribe(subjects.BASE_MODELS, cb=on_message)
        try:
            while not stop.is_set():
                await self._sleep(stop)
                if stop.is_set():
                    break
                self._wake.clear()
                await self.reconcile()
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _sleep(self, stop: asyncio.Event) -> None:
        """Until an announcement, `stop`, or the next rescan is due."""
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(
                waits, timeout=self.settings.rescan_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in waits:
                waiting.cancel()

    async def close(self) -> None:
        """Shut every engine down (at process exit)."""
        for engine in self.catalog.engines():
            await engine.close()
