"""Tables of the registry. Timestamps are unix seconds (the public API's unit)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now_s() -> int:
    return int(time.time())


class Base(DeclarativeBase):
    # JSON None is stored as SQL NULL, not the JSON text 'null'.
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON(none_as_null=True),
        int: BigInteger,
    }


class Tenant(Base):
    """An organisation; everything else belongs to exactly one."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[int] = mapped_column(default=now_s)


class ApiKey(Base):
    """An API key, stored only as its SHA-256 (keys are 256-bit random, so a fast hash is
    enough); `prefix` lets a person tell keys apart."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[int] = mapped_column(default=now_s)
    revoked_at: Mapped[int | None] = mapped_column(default=None)


class File(Base):
    """An uploaded file; its bytes live in the artifact store at `path`."""

    __tablename__ = "files"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(50))
    bytes: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(default=now_s)


class Job(Base):
    """Any asynchronous job; `kind` says which (the JobKind token, e.g. "fine_tune")."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attempt: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[int] = mapped_column(default=now_s)
    started_at: Mapped[int | None] = mapped_column(default=None)
    finished_at: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[int] = mapped_column(default=now_s, onupdate=now_s)

    __table_args__ = (Index("ix_jobs_tenant_kind_created", "tenant_id", "kind", "created_at"),)


class JobEventRow(Base):
    """One event of a job, as published on EVENTS; (job_id, seq) makes replays idempotent."""

    __tablename__ = "job_events"
    # SQLite auto-increments only an INTEGER (not BIGINT) primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    seq: Mapped[int] = mapped_column()
    created_at: Mapped[int] = mapped_column(default=now_s)
    level: Mapped[str] = mapped_column(String(16), default="info")
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),)


class ModelRecord(Base):
    """A base model (tenant_id None: every tenant sees it) or an adapter of one tenant."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))  # "base" or "adapter"
    parent: Mapped[str | None] = mapped_column(String(300), default=None)
    path: Mapped[str] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64), default=None)
    epoch: Mapped[int | None] = mapped_column(default=None)
    context_length: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[int] = mapped_column(default=now_s)


class ComparisonVote(Base):
    """A thumbs-up an API key gave one answer (a model's, to one question) of a comparison;
    unique per answer per key, so voting twice is one vote."""

    __tablename__ = "comparison_votes"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    comparison_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    question_index: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(300))
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[int] = mapped_column(default=now_s)

    __table_args__ = (
        UniqueConstraint(
            "comparison_id", "question_index", "model", "api_key_id", name="uq_comparison_votes"
        ),
    )


class DatagenPairReview(Base):
    """A person's review of one generated pair of a datagen job: an edited question or
    answer (NULL: as generated), `confirmed`, `dropped`. The pairs themselves stay in the
    job's `pairs.jsonl`; a reviewed dataset is built from both."""

    __tablename__ = "datagen_pair_reviews"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    pair_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    confirmed: Mapped[bool] = mapped_column(default=False)
    dropped: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[int] = mapped_column(default=now_s)


class KnowledgeBase(Base):
    """A tenant's knowledge base: its chunks and vectors live in Qdrant (owned by datagen);
    this row is what the gateway lists, checks tenancy on and searches with."""

    __tablename__ = "knowledge_bases"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    embedding_model: Mapped[str] = mapped_column(String(300))
    # Defaults of RAG chat on this knowledge base (a search request may override them).
    top_k: Mapped[int] = mapped_column(Integer, default=5)
    score_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    created_at: Mapped[int] = mapped_column(default=now_s)


class Eval(Base):
    """A tenant's eval (OpenAI's Evals API): what an item looks like and the testing
    criteria, stored in the API's own JSON shapes. Its runs are jobs (`EvalRun`)."""

    __tablename__ = "evals"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(500), default="")
    data_source_config: Mapped[dict[str, Any]] = mapped_column()
    testing_criteria: Mapped[dict[str, Any]] = mapped_column()  # {"criteria": [...]}
    # `metadata` is taken by SQLAlchemy's declarative base.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    created_at: Mapped[int] = mapped_column(default=now_s)
    # Lists are in creation order, which seconds cannot tell apart.
    created_ns: Mapped[int] = mapped_column(default=time.time_ns)


class EvalRun(Base):
    """One run of an eval: the job (kind "eval_run") that samples and grades, and what the
    run request said in the API's shape. Deleting the run removes this row; the job stays
    in the job history."""

    __tablename__ = "eval_runs"
    id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    eval_id: Mapped[str] = mapped_column(ForeignKey("evals.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(500), default="")
    model: Mapped[str] = mapped_column(String(300), default="")
    data_source: Mapped[dict[str, Any]] = mapped_column()
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    created_at: Mapped[int] = mapped_column(default=now_s)
    created_ns: Mapped[int] = mapped_column(default=time.time_ns)


class StoredResponse(Base):
    """A response of the Responses API kept for `previous_response_id` and `GET`: the
    response object, and every item the model was given (the chained conversation and this
    request's input), both in the API's own JSON shapes."""

    __tablename__ = "stored_responses"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    response: Mapped[dict[str, Any]] = mapped_column()
    input_items: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(default=now_s)


class ImportedAdapter(Base):
    """A LoRA adapter trained elsewhere, validated and kept at `path` (relative to the data
    directory); served under `name`, unique across tenants since model names are."""

    __tablename__ = "imported_adapters"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    base_model: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(64), default=None)
    rank: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    created_at: Mapped[int] = mapped_column(default=now_s)
