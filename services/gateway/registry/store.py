"""Operations on the registry. Every read takes the tenant, so one tenant never sees
another's objects; a foreign id is simply not found."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.gateway.ids import new_id
from services.gateway.registry.db import Database
from services.gateway.registry.models import (
    ApiKey,
    File,
    Job,
    JobEventRow,
    ModelRecord,
    Tenant,
    now_s,
)
from services.gateway.registry.transitions import TERMINAL, JobStatus, check_transition
from tuneloop_core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)

API_KEY_PREFIX = "tl-"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


class Registry:
    """The job registry; the gateway is its only writer of job state."""

    def __init__(self, db: Database):
        self.db = db

    # --- tenants and keys ---------------------------------------------------------------

    def ensure_tenant(self, name: str) -> Tenant:
        """The tenant called `name`, created if new."""
        with self.db.session() as s:
            tenant = s.scalar(select(Tenant).where(Tenant.name == name))
            if tenant is None:
                tenant = Tenant(id=new_id("tenant", 16), name=name)
                s.add(tenant)
            return tenant

    def create_api_key(self, tenant_name: str, key_name: str = "") -> tuple[str, ApiKey]:
        """A new key for the tenant: (plaintext — shown once, never stored —, record)."""
        tenant = self.ensure_tenant(tenant_name)
        plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            id=new_id("key", 16),
            tenant_id=tenant.id,
            key_hash=hash_key(plaintext),
            prefix=plaintext[:10],
            name=key_name,
        )
        with self.db.session() as s:
            s.add(record)
        return plaintext, record

    def authenticate(self, plaintext: str) -> Tenant:
        """The tenant owning an active key; AuthenticationError otherwise."""
        with self.db.session() as s:
            row = s.execute(
                select(Tenant, ApiKey)
                .join(ApiKey, ApiKey.tenant_id == Tenant.id)
                .where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))
            ).first()
        if row is None:
            raise AuthenticationError("Incorrect API key provided.")
        return row[0]

    def api_key(self, plaintext: str) -> ApiKey:
        """The record of an active key (which key acted, e.g. who voted)."""
        with self.db.session() as s:
            key = s.scalar(
                select(ApiKey).where(
                    ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None)
                )
            )
        if key is None:
            raise AuthenticationError("Incorrect API key provided.")
        return key

    def revoke_api_key(self, key_id: str) -> None:
        with self.db.session() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise NotFoundError(f"no API key {key_id}")
            key.revoked_at = now_s()

    # --- files --------------------------------------------------------------------------

    def add_file(self, file: File) -> File:
        with self.db.session() as s:
            s.add(file)
        return file

    def get_file(self, tenant_id: str, file_id: str) -> File:
        with self.db.session() as s:
            file = s.get(File, file_id)
        if file is None or file.tenant_id != tenant_id:
            raise NotFoundError(
                f"No such File object: {file_id}", param="file_id", code="file_not_found"
            )
        return file

    def list_files(self, tenant_id: str, purpose: str | None = None) -> list[File]:
        query = select(File).where(File.tenant_id == tenant_id)
        if purpose:
            query = query.where(File.purpose == purpose)
        with self.db.session() as s:
            return list(s.scalars(query.order_by(File.created_at.desc(), File.id.desc())))

    def page_files(
        self,
        tenant_id: str,
        *,
        limit: int,
        purpose: str | None = None,
        after: str | None = None,
        newest_first: bool = True,
    ) -> tuple[list[File], bool]:
        """Up to `limit` files ordered by (created_at, id), starting after the file `after`,
        and whether more follow. The cursor is a key, not an offset, so pages neither skip
        nor repeat files when others are added or deleted meanwhile."""
        created, ident = File.created_at, File.id
        query = select(File).where(File.tenant_id == tenant_id)
        if purpose:
            query = query.where(File.purpose == purpose)
        with self.db.session() as s:
            if after is not None:
                cursor = s.get(File, after)
                if cursor is None or cursor.tenant_id != tenant_id:
                    raise InvalidRequestError(
                        f"No such File object for 'after': {after}", param="after"
                    )
                at, after_id = cursor.created_at, cursor.id
                query = query.where(
                    or_(created < at, and_(created == at, ident < after_id))
                    if newest_first
                    else or_(created > at, and_(created == at, ident > after_id))
                )
            order = (created.desc(), ident.desc()) if newest_first else (created, ident)
            files = list(s.scalars(query.order_by(*order).limit(limit + 1)))
        return files[:limit], len(files) > limit

    def delete_file(self, tenant_id: str, file_id: str) -> File:
        file = self.get_file(tenant_id, file_id)
        with self.db.session() as s:
            s.delete(s.merge(file))
        return file

    # --- jobs ---------------------------------------------------------------------------

    def create_job(
        self,
        tenant_id: str,
        kind: str,
        spec: dict[str, Any],
        *,
        job_id: str,
        status: JobStatus = JobStatus.QUEUED,
    ) -> Job:
        job = Job(id=job_id, tenant_id=tenant_id, kind=kind, status=status.value, spec=spec)
        with self.db.session() as s:
            s.add(job)
        return job

    def get_job(self, job_id: str, tenant_id: str | None = None) -> Job:
        """A job by id; with `tenant_id`, only that tenant's job."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
        if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
            raise NotFoundError(f"No such job: {job_id}", param="job_id")
        return job

    def count_jobs(self) -> list[tuple[str, str, int]]:
        """(kind, status, how many) over every tenant: the gateway's job metrics."""
        query = select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
        with self.db.session() as s:
            return [(kind, status, int(n)) for kind, status, n in s.execute(query)]

    def list_jobs(
        self, tenant_id: str, kind: str, limit: int = 20, after: str | None = None
    ) -> list[Job]:
        """Newest first; `after` is the id of the last job of the previous page."""
        query = select(Job).where(Job.tenant_id == tenant_id, Job.kind == kind)
        with self.db.session() as s:
            if after is not None:
                cursor = s.get(Job, after)
                if cursor is None or cursor.tenant_id != tenant_id or cursor.kind != kind:
                    raise NotFoundError(f"No such job: {after}", param="after")
                query = query.where(
                    (Job.created_at < cursor.created_at)
                    | ((Job.created_at == cursor.created_at) & (Job.id < cursor.id))
                )
            query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
            return list(s.scalars(query))

    def transition_job(
        self,
        job_id: str,
        target: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> Job:
        """Move a job to `target`; ConflictError when the transition is not allowed.

        Compare-and-set: the UPDATE names the status it was checked against, so a cancel and a
        worker's "succeeded" landing together cannot both win (SQLite reads outside a write
        transaction, and FOR UPDATE means nothing there). Lost the race: read again, check again.
        """
        for _ in range(8):
            with self.db.session() as s:
                job = s.get(Job, job_id, with_for_update=True)
                if job is None:
                    raise NotFoundError(f"No such job: {job_id}", param="job_id")
                current = JobStatus(job.status)
                check_transition(current, target)
                changes: dict[str, Any] = {"status": target.value}
                if target is JobStatus.RUNNING and job.started_at is None:
                    changes["started_at"] = now_s()
                if target is JobStatus.QUEUED and current is not JobStatus.VALIDATING_FILES:
                    changes["attempt"] = job.attempt + 1  # queued again (resume, hand-back)
                if target in TERMINAL:
                    changes["finished_at"] = now_s()
                if result is not None:
                    changes["result"] = result
                if error is not None:
                    changes["error"] = error
                moved: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                    update(Job)
                    .where(Job.id == job_id, Job.status == current.value)
                    .values(changes)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount == 1:
                    s.refresh(job)
                    return job
        raise ServiceUnavailableError(f"job {job_id} kept changing; try again")

    def add_event(self, event: JobEventRow) -> bool:
        """Store an event; False when (job_id, seq) is already stored (a redelivery)."""
        try:
            with self.db.session() as s:
                if self._has_event(s, event.job_id, event.seq):
                    return False
                s.add(event)
        except IntegrityError:
            with self.db.session() as s:
                if self._has_event(s, event.job_id, event.seq):
                    return False  # stored by a concurrent writer meanwhile
            raise
        return True

    @staticmethod
    def _has_event(session: Session, job_id: str, seq: int) -> bool:
        query = select(JobEventRow.id).where(JobEventRow.job_id == job_id, JobEventRow.seq == seq)
        return session.scalar(query) is not None

    def list_events(self, job_id: str, after_seq: int = 0, limit: int = 100) -> list[JobEventRow]:
        query = (
            select(JobEventRow)
            .where(JobEventRow.job_id == job_id, JobEventRow.seq > after_seq)
            .order_by(JobEventRow.seq)
            .limit(limit)
        )
        with self.db.session() as s:
            return list(s.scalars(query))

    def list_events_newest_first(
        self,
        job_id: str,
        before_seq: int | None = None,
        limit: int = 100,
        event_type: str | None = None,
    ) -> list[JobEventRow]:
        """Newest first (the OpenAI order), optionally of one type; `before_seq` is the
        cursor of the next page."""
        query = select(JobEventRow).where(JobEventRow.job_id == job_id)
        if before_seq is not None:
            query = query.where(JobEventRow.seq < before_seq)
        if event_type is not None:
            query = query.where(JobEventRow.type == event_type)
        query = query.order_by(JobEventRow.seq.desc()).limit(limit)
        with self.db.session() as s:
            return list(s.scalars(query))

    # --- models -------------------------------------------------------------------------

    def upsert_model(self, record: ModelRecord) -> ModelRecord:
        with self.db.session() as s:
            s.merge(record)
        return record

    def list_models(self, tenant_id: str) -> list[ModelRecord]:
        """Base models and the tenant's adapters."""
        query = select(ModelRecord).where(
            (ModelRecord.tenant_id.is_(None)) | (ModelRecord.tenant_id == tenant_id)
        )
        with self.db.session() as s:
            return list(s.scalars(query.order_by(ModelRecord.kind, ModelRecord.created_at)))

    def delete_model(self, tenant_id: str, model_id: str) -> ModelRecord:
        with self.db.session() as s:
            record = s.get(ModelRecord, model_id)
            if record is None or record.tenant_id != tenant_id:
                if record is not None and record.tenant_id is None:
                    raise ConflictError("base models cannot be deleted", param="model")
                raise NotFoundError(f"The model '{model_id}' does not exist", param="model")
            s.delete(record)
        return record
