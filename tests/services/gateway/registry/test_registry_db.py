"""Database: URL normalising, schema creation, units of work, an unreachable server."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.gateway.registry.db import Database, normalise_url
from services.gateway.registry.models import File, Tenant
from services.gateway.registry.store import Registry
from tests.conftest import free_port
from tuneloop_core.errors import ServiceUnavailableError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/tl", "postgresql+psycopg://u:p@db:5432/tl"),
        ("postgres://u@db/tl", "postgresql+psycopg://u@db/tl"),
        ("postgresql+psycopg://u@db/tl", "postgresql+psycopg://u@db/tl"),
        ("sqlite:////data/registry.db", "sqlite:////data/registry.db"),
    ],
)
def test_normalise_url_picks_psycopg_and_keeps_the_password(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


def test_a_sqlite_database_is_created_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "registry.db"
    db = Database(f"sqlite:///{path}")
    try:
        assert path.is_file()
        assert db.ping()
        Database(f"sqlite:///{path}").close()  # creating the schema again is harmless
    finally:
        db.close()


def test_an_unreachable_server_is_service_unavailable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        Database(url)
    db = Database(url, create=False)
    try:
        assert db.ping() is False
    finally:
        db.close()


def test_a_session_rolls_back_when_the_block_raises(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(RuntimeError), db.session() as s:
            s.add(Tenant(id="tenant-1", name="acme"))
            s.flush()
            raise RuntimeError("half-way")
        with db.session() as s:
            assert s.scalars(select(Tenant)).all() == []
    finally:
        db.close()


def test_foreign_keys_are_enforced(registry: Registry) -> None:
    orphan = File(
        id="file-1",
        tenant_id="tenant-missing",
        filename="a.jsonl",
        purpose="fine-tune",
        bytes=1,
        sha256="0" * 64,
        path="files/file-1",
    )
    with pytest.raises(IntegrityError):
        registry.add_file(orphan)
