"""DatagenService's knowledge-base RPCs over real gRPC, with the inference service's real
embedding model behind them, and the kb_ingest job spec."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.datagen.knowledge.ingest import from_pb, heading_text
from services.datagen.server import serve as serve_datagen
from services.datagen.settings import DatagenSettings
from services.inference.server import serve as serve_inference
from services.inference.settings import InferenceSettings
from support.inprocess import running
from tuneloop.datagen.v1 import datagen_pb2, datagen_pb2_grpc
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.settings import CommonSettings


@pytest.fixture
async def datagen(
    common: CommonSettings,
) -> AsyncIterator[datagen_pb2_grpc.DatagenServiceAsyncStub]:
    inference_settings = InferenceSettings(
        grpc_port=0, shutdown_grace_s=1, engine="transformers", common=common
    )
    async with running(serve_inference, inference_settings) as inference:
        assert inference.grpc is not None
        wired = common.model_copy(update={"inference_addr": f"127.0.0.1:{inference.grpc.port}"})
        settings = DatagenSettings(grpc_port=0, shutdown_grace_s=1, common=wired)
        async with running(serve_datagen, settings) as runtime:
            assert runtime.grpc is not None
            channel = open_channel(f"127.0.0.1:{runtime.grpc.port}")
            yield datagen_pb2_grpc.DatagenServiceStub(channel)
            await channel.close()


async def test_search_of_an_empty_knowledge_base_finds_nothing(
    datagen: datagen_pb2_grpc.DatagenServiceAsyncStub, common: CommonSettings
) -> None:
    request = datagen_pb2.SearchKnowledgeBaseRequest(
        knowledge_base_id="kb-empty", tenant_id="tenant-a", query="公文的主旨", top_k=3
    )
    reply = await datagen.SearchKnowledgeBase(request)
    assert list(reply.hits) == []
    deleted = await datagen.DeleteKnowledgeBase(
        datagen_pb2.DeleteKnowledgeBaseRequest(knowledge_base_id="kb-empty", tenant_id="tenant-a")
    )
    assert deleted.n_chunks_deleted == 0
    assert (common.data_dir / "qdrant").is_dir()  # embedded Qdrant by default


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"query": "  "}, "query"),
        ({"query": "q", "top_k": 101}, "top_k"),
        ({"query": "q", "score_threshold": 1.5}, "score_threshold"),
        ({"query": "q", "tenant_id": ""}, "knowledge_base_id"),
    ],
)
async def test_bad_search_requests_are_invalid_arguments(
    datagen: datagen_pb2_grpc.DatagenServiceAsyncStub, fields: dict[str, object], param: str
) -> None:
    request = datagen_pb2.SearchKnowledgeBaseRequest(
        **{"knowledge_base_id": "kb-1", "tenant_id": "tenant-a", **fields}  # type: ignore[arg-type]
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await datagen.SearchKnowledgeBase(request)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert param in dict(raised.value.trailing_metadata() or ()).values()


def test_ingest_spec_is_read_with_the_gateways_bounds() -> None:
    chunking = datagen_pb2.Chunking(size=200, overlap=20, unit="tokens")
    spec = from_pb(
        datagen_pb2.KbIngestJobSpec(knowledge_base_id="kb-1", file_ids=["f"], chunking=chunking)
    )
    assert (spec.chunking.size, spec.chunking.overlap, spec.chunking.unit) == (200, 20, "tokens")
    for bad, param in (
        (datagen_pb2.KbIngestJobSpec(knowledge_base_id="kb-1", chunking=chunking), "file_ids"),
        (datagen_pb2.KbIngestJobSpec(file_ids=["f"], chunking=chunking), "knowledge_base_id"),
        (datagen_pb2.KbIngestJobSpec(knowledge_base_id="kb-1", file_ids=["f"]), "chunking.size"),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            from_pb(bad)
        assert caught.value.param == param
    assert heading_text(["公文", "函", "主旨"]) == "公文 > 函 > 主旨"
    assert heading_text("公文 > 函") == "公文 > 函"
    assert heading_text(None) == ""
