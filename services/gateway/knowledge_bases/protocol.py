"""Knowledge-base request and response shapes (OpenAI-styled objects)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import kb_ingest as bounds
from tuneloop_core.jobspecs.datagen import ChunkUnit

TopK = Field(None, ge=1, le=100)
Threshold = Field(None, ge=0, le=1)


class KnowledgeBaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    embedding_model: str | None = None  # None: the inference service's default
    top_k: int = Field(5, ge=1, le=100)  # chunks a RAG answer is given, by default
    score_threshold: float = Field(0.5, ge=0, le=1)  # cosine below which a chunk is ignored


class KnowledgeBaseObject(BaseModel):
    id: str
    object: Literal["knowledge_base"] = "knowledge_base"
    created_at: int
    name: str
    description: str
    embedding_model: str
    top_k: int
    score_threshold: float
    n_documents: int  # documents stored, after the latest successful ingest
    n_chunks: int


class KnowledgeBaseDeleted(BaseModel):
    id: str
    object: Literal["knowledge_base.deleted"] = "knowledge_base.deleted"
    deleted: bool = True


class ChunkingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(bounds.CHUNK_SIZE, ge=bounds.MIN_CHUNK_SIZE, le=bounds.MAX_CHUNK_SIZE)
    overlap: int = Field(bounds.CHUNK_OVERLAP, ge=0, le=bounds.MAX_CHUNK_OVERLAP)
    unit: ChunkUnit = "chars"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingOptions:
        if self.overlap >= self.size:
            raise InvalidRequestError(
                "chunking.overlap must be smaller than chunking.size", param="chunking.overlap"
            )
        return self


class AddDocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(min_length=1, max_length=bounds.MAX_FILES)
    chunking: ChunkingOptions = Field(default_factory=ChunkingOptions)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=8000)
    top_k: int | None = TopK  # None: the knowledge base's top_k
    score_threshold: float | None = Threshold  # None: the knowledge base's threshold


class Source(BaseModel):
    """Where a chunk comes from."""

    document: str  # file name
    file_id: str
    page: int | None  # 1-based; None when the document has no pages
    heading_path: list[str]  # Markdown headings above the chunk, outermost first
    chunk_index: int  # 0-based position in the document


class SearchHitObject(BaseModel):
    object: Literal["knowledge_base.chunk"] = "knowledge_base.chunk"
    text: str
    score: float  # cosine similarity of query and chunk
    source: Source


class SearchResults(BaseModel):
    object: Literal["list"] = "list"
    data: list[SearchHitObject]
    has_more: bool = False


class KnowledgeBaseRef(BaseModel):
    """The `knowledge_base` extension of a chat request, in its long form."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    top_k: int | None = TopK
    score_threshold: float | None = Threshold
