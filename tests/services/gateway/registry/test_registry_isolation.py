"""Tenant isolation: another tenant's file, job or model is simply not found. Base models
are shared by every tenant and cannot be deleted."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.gateway.ids import new_id
from services.gateway.registry.models import File, ModelRecord
from services.gateway.registry.store import Registry
from tuneloop_core.errors import ConflictError, NotFoundError


@dataclass
class Tenants:
    acme: str
    globex: str


@pytest.fixture
def tenants(registry: Registry) -> Tenants:
    return Tenants(
        acme=registry.ensure_tenant("acme").id, globex=registry.ensure_tenant("globex").id
    )


def make_file(tenant_id: str, purpose: str = "fine-tune", created_at: int = 1_700_000_000) -> File:
    file_id = new_id("file")
    return File(
        id=file_id,
        tenant_id=tenant_id,
        filename="訓練資料.jsonl",  # non-ASCII names survive the round trip
        purpose=purpose,
        bytes=123,
        sha256="ab" * 32,
        path=f"files/{file_id}",
        created_at=created_at,
    )


# --- files ------------------------------------------------------------------------------


def test_a_file_is_visible_only_to_its_tenant(registry: Registry, tenants: Tenants) -> None:
    file = registry.add_file(make_file(tenants.acme))

    got = registry.get_file(tenants.acme, file.id)
    assert (got.filename, got.bytes, got.sha256) == ("訓練資料.jsonl", 123, "ab" * 32)
    with pytest.raises(NotFoundError) as raised:
        registry.get_file(tenants.globex, file.id)
    assert raised.value.param == "file_id"
    assert registry.list_files(tenants.globex) == []


def test_another_tenant_cannot_delete_a_file(registry: Registry, tenants: Tenants) -> None:
    file = registry.add_file(make_file(tenants.acme))
    with pytest.raises(NotFoundError):
        registry.delete_file(tenants.globex, file.id)
    assert registry.get_file(tenants.acme, file.id).id == file.id

    registry.delete_file(tenants.acme, file.id)
    with pytest.raises(NotFoundError):
        registry.get_file(tenants.acme, file.id)


def test_list_files_is_newest_first_and_filters_by_purpose(
    registry: Registry, tenants: Tenants
) -> None:
    old = registry.add_file(make_file(tenants.acme, "fine-tune", created_at=100))
    new = registry.add_file(make_file(tenants.acme, "fine-tune", created_at=200))
    docs = registry.add_file(make_file(tenants.acme, "knowledge", created_at=150))
    registry.add_file(make_file(tenants.globex, "fine-tune"))

    assert [f.id for f in registry.list_files(tenants.acme)] == [new.id, docs.id, old.id]
    assert [f.id for f in registry.list_files(tenants.acme, "fine-tune")] == [new.id, old.id]


# --- jobs -------------------------------------------------------------------------------


def test_a_job_is_visible_only_to_its_tenant(registry: Registry, tenants: Tenants) -> None:
    spec = {"model": "base", "hyperparameters": {"n_epochs": 3}, "files": ["file-a"]}
    registry.create_job(tenants.acme, "fine_tune", spec, job_id="ftjob-1")

    assert registry.get_job("ftjob-1", tenants.acme).spec == spec
    assert registry.get_job("ftjob-1").tenant_id == tenants.acme  # the gateway's own reads
    with pytest.raises(NotFoundError) as raised:
        registry.get_job("ftjob-1", tenants.globex)
    assert raised.value.param == "job_id"
    assert registry.list_jobs(tenants.globex, "fine_tune") == []
    with pytest.raises(NotFoundError):
        registry.get_job("ftjob-missing")


def test_list_jobs_is_per_kind_newest_first_and_limited(
    registry: Registry, tenants: Tenants
) -> None:
    for i in range(4):
        job = registry.create_job(tenants.acme, "fine_tune", {}, job_id=f"ftjob-{i}")
        with registry.db.session() as s:
            s.merge(job).created_at = 1000 + i
    registry.create_job(tenants.acme, "evaluation", {}, job_id="evaljob-1")
    registry.create_job(tenants.globex, "fine_tune", {}, job_id="ftjob-globex")

    assert [j.id for j in registry.list_jobs(tenants.acme, "fine_tune")] == [
        "ftjob-3",
        "ftjob-2",
        "ftjob-1",
        "ftjob-0",
    ]
    assert [j.id for j in registry.list_jobs(tenants.acme, "fine_tune", limit=2)] == [
        "ftjob-3",
        "ftjob-2",
    ]
    assert [j.id for j in registry.list_jobs(tenants.acme, "evaluation")] == ["evaljob-1"]


# --- models -----------------------------------------------------------------------------


def base_model() -> ModelRecord:
    return ModelRecord(id="qwen-0.5b", tenant_id=None, kind="base", path="/models/qwen")


def adapter(tenant_id: str, name: str) -> ModelRecord:
    return ModelRecord(
        id=name, tenant_id=tenant_id, kind="adapter", parent="qwen-0.5b", path=f"adapters/{name}"
    )


def test_base_models_are_shared_and_adapters_are_not(registry: Registry, tenants: Tenants) -> None:
    registry.upsert_model(base_model())
    registry.upsert_model(adapter(tenants.acme, "ft:qwen-0.5b:acme:a"))
    registry.upsert_model(adapter(tenants.globex, "ft:qwen-0.5b:globex:b"))

    assert {m.id for m in registry.list_models(tenants.acme)} == {
        "qwen-0.5b",
        "ft:qwen-0.5b:acme:a",
    }
    assert {m.id for m in registry.list_models(tenants.globex)} == {
        "qwen-0.5b",
        "ft:qwen-0.5b:globex:b",
    }


def test_upsert_model_updates_in_place(registry: Registry, tenants: Tenants) -> None:
    registry.upsert_model(adapter(tenants.acme, "ft:a"))
    changed = adapter(tenants.acme, "ft:a")
    changed.epoch = 3
    registry.upsert_model(changed)
    [model] = [m for m in registry.list_models(tenants.acme) if m.id == "ft:a"]
    assert model.epoch == 3


def test_a_base_model_cannot_be_deleted(registry: Registry, tenants: Tenants) -> None:
    registry.upsert_model(base_model())
    with pytest.raises(ConflictError) as raised:
        registry.delete_model(tenants.acme, "qwen-0.5b")
    assert raised.value.param == "model"
    assert "qwen-0.5b" in {m.id for m in registry.list_models(tenants.acme)}


def test_only_the_owner_deletes_an_adapter(registry: Registry, tenants: Tenants) -> None:
    registry.upsert_model(adapter(tenants.acme, "ft:a"))
    with pytest.raises(NotFoundError) as raised:
        registry.delete_model(tenants.globex, "ft:a")
    assert raised.value.param == "model"
    assert [m.id for m in registry.list_models(tenants.acme)] == ["ft:a"]

    registry.delete_model(tenants.acme, "ft:a")
    assert registry.list_models(tenants.acme) == []
    with pytest.raises(NotFoundError):
        registry.delete_model(tenants.acme, "ft:a")
