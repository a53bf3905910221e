"""The registry as the gateway's async code calls it: the one boundary between the event
loop and the database. SQLAlchemy sessions here are synchronous (SQLite and PostgreSQL
alike), so every call runs on the registry's own thread pool (fewer threads than the
engine's default 5 + 10 connections, so none waits for a connection); handlers simply
`await state.registry.get_job(...)`. Only the operations the gateway awaits are wrapped.

`Registry` and the tables beside it (knowledge bases, votes, pair reviews, evals) stay plain
synchronous classes: the CLI and tests use them directly, and `run` takes a function that
needs several calls in one go (applying a job event)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from services.gateway.registry.adapters import ImportedAdapters
from services.gateway.registry.comparisons import ComparisonVotes
from services.gateway.registry.db import Database
from services.gateway.registry.evals import Evals
from services.gateway.registry.knowledge import KnowledgeBases
from services.gateway.registry.responses import StoredResponses
from services.gateway.registry.reviews import PairReviews
from services.gateway.registry.store import Registry

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")
# Threads that may wait on the database at once; more requests queue for a thread.
POOL_THREADS = 8


class _Pooled(Generic[S]):
    """A synchronous registry object whose methods are awaited on the pool."""

    def __init__(self, sync: S, pool: ThreadPoolExecutor):
        self.sync = sync
        self._pool = pool

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the registry's pool (several calls in one go)."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)


def _pooled(
    method: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[_Pooled[S], P], Coroutine[Any, Any, T]]:
    """The synchronous `method` as a coroutine method of the pooled wrapper."""

    async def call(self: _Pooled[S], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.run(method, self.sync, *args, **kwargs)

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    return call


class AsyncKnowledgeBases(_Pooled[KnowledgeBases]):
    add = _pooled(KnowledgeBases.add)
    get = _pooled(KnowledgeBases.get)
    page = _pooled(KnowledgeBases.page)
    delete = _pooled(KnowledgeBases.delete)
    totals = _pooled(KnowledgeBases.totals)


class AsyncComparisonVotes(_Pooled[ComparisonVotes]):
    # A vote and its tally run together through `run` (votes.py).
    tallies = _pooled(ComparisonVotes.tallies)


class AsyncPairReviews(_Pooled[PairReviews]):
    of_job = _pooled(PairReviews.of_job)
    save = _pooled(PairReviews.save)


class AsyncEvals(_Pooled[Evals]):
    add = _pooled(Evals.add)
    get = _pooled(Evals.get)
    update = _pooled(Evals.update)
    page = _pooled(Evals.page)
    delete = _pooled(Evals.delete)
    add_run = _pooled(Evals.add_run)
    get_run = _pooled(Evals.get_run)
    page_runs = _pooled(Evals.page_runs)
    delete_run = _pooled(Evals.delete_run)


class AsyncStoredResponses(_Pooled[StoredResponses]):
    add = _pooled(StoredResponses.add)
    get = _pooled(StoredResponses.get)
    delete = _pooled(StoredResponses.delete)


class AsyncImportedAdapters(_Pooled[ImportedAdapters]):
    add = _pooled(ImportedAdapters.add)
    name_taken = _pooled(ImportedAdapters.name_taken)
    get = _pooled(ImportedAdapters.get)
    of_tenant = _pooled(ImportedAdapters.of_tenant)
    delete = _pooled(ImportedAdapters.delete)


class AsyncRegistry(_Pooled[Registry]):
    """`Registry`'s operations as coroutines, and the tables beside it."""

    def __init__(self, sync: Registry, threads: int = POOL_THREADS):
        super().__init__(sync, ThreadPoolExecutor(threads, thread_name_prefix="registry"))
        db = sync.db
        self.knowledge_bases = AsyncKnowledgeBases(KnowledgeBases(db), self._pool)
        self.votes = AsyncComparisonVotes(ComparisonVotes(db), self._pool)
        self.reviews = AsyncPairReviews(PairReviews(db), self._pool)
        self.evals = AsyncEvals(Evals(db), self._pool)
        self.adapters = AsyncImportedAdapters(ImportedAdapters(db), self._pool)
        self.responses = AsyncStoredResponses(StoredResponses(db), self._pool)

    @classmethod
    def connect(cls, url: str) -> AsyncRegistry:
        return cls(Registry(Database(url)))

    async def ping(self) -> bool:
        return await self.run(self.sync.db.ping)

    def close(self) -> None:
        """Wait for running calls, then close the connections."""
        self._pool.shutdown(wait=True)
        self.sync.db.close()

    authenticate = _pooled(Registry.authenticate)
    api_key = _pooled(Registry.api_key)
    add_file = _pooled(Registry.add_file)
    get_file = _pooled(Registry.get_file)
    page_files = _pooled(Registry.page_files)
    delete_file = _pooled(Registry.delete_file)
    create_job = _pooled(Registry.create_job)
    get_job = _pooled(Registry.get_job)
    count_jobs = _pooled(Registry.count_jobs)
    list_jobs = _pooled(Registry.list_jobs)
    transition_job = _pooled(Registry.transition_job)
    list_events = _pooled(Registry.list_events)
    list_events_newest_first = _pooled(Registry.list_events_newest_first)
