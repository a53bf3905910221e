"""Stored responses of the Responses API. Every read takes the tenant: another tenant's
response is not found, as if absent (so it can be neither read, deleted nor chained)."""

from __future__ import annotations

from services.gateway.registry.db import Database
from services.gateway.registry.models import StoredResponse
from tuneloop_core.errors import NotFoundError


class StoredResponses:
    """Operations on the `stored_responses` table."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, record: StoredResponse) -> StoredResponse:
        with self.db.session() as s:
            s.add(record)
        return record

    def get(self, tenant_id: str, response_id: str, param: str = "response_id") -> StoredResponse:
        with self.db.session() as s:
            record = s.get(StoredResponse, response_id)
        if record is None or record.tenant_id != tenant_id:
            raise NotFoundError(
                f"Response with id '{response_id}' not found.",
                param=param,
                code="response_not_found",
            )
        return record

    def delete(self, tenant_id: str, response_id: str) -> None:
        record = self.get(tenant_id, response_id)
        with self.db.session() as s:
            s.delete(s.merge(record))
