"""Imported adapters in the registry. Reads take the tenant: another tenant's import is not
found, as if absent; only `name_taken` looks across tenants, since model names are global."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.gateway.registry.db import Database
from services.gateway.registry.models import ImportedAdapter
from tuneloop_core.errors import ConflictError, NotFoundError


def adapter_not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"No imported adapter named '{name}'", param="name", code="adapter_not_found"
    )


def name_conflict(name: str) -> ConflictError:
    return ConflictError(
        f"The model name '{name}' is taken; choose another 'name'",
        param="name",
        code="model_name_taken",
    )


class ImportedAdapters:
    """Operations on the `imported_adapters` table."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, record: ImportedAdapter) -> ImportedAdapter:
        """Keep the record; a name another import holds is a conflict (the unique index
        decides, so two uploads racing for one name cannot both win)."""
        try:
            with self.db.session() as s:
                s.add(record)
        except IntegrityError:
            raise name_conflict(record.name) from None
        return record

    def name_taken(self, name: str) -> bool:
        with self.db.session() as s:
            return (
                s.scalar(select(ImportedAdapter.id).where(ImportedAdapter.name == name)) is not None
            )

    def get(self, tenant_id: str, name: str) -> ImportedAdapter:
        with self.db.session() as s:
            record = s.scalar(select(ImportedAdapter).where(ImportedAdapter.name == name))
        if record is None or record.tenant_id != tenant_id:
            raise adapter_not_found(name)
        return record

    def of_tenant(self, tenant_id: str) -> list[ImportedAdapter]:
        query = (
            select(ImportedAdapter)
            .where(ImportedAdapter.tenant_id == tenant_id)
            .order_by(ImportedAdapter.created_at, ImportedAdapter.name)
        )
        with self.db.session() as s:
            return list(s.scalars(query))

    def delete(self, tenant_id: str, name: str) -> ImportedAdapter:
        record = self.get(tenant_id, name)
        with self.db.session() as s:
            s.delete(s.merge(record))
        return record
