"""The judge with the real bundled SmolLM2-135M-Instruct, through a real in-process
inference service (transformers engine, constrained decoding): free-running, this model
gives a readable score for a few percent of answers; under the rubric's grammar it gives
one for every answer, and a preference for every pair."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.evaluator.evaluation import judge
from services.inference.server import serve as serve_inference
from services.inference.settings import InferenceSettings
from support.inprocess import running
from support.smollm2 import pulled_smollm2
from tests.conftest import NatsServer
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core import basemodels
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.settings import CommonSettings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SMOL = "smol"
QUESTIONS = [
    "令的用途是什麼？",
    "函在什麼情況下使用？",
    "What is the capital of France?",
    "簽是寫給誰的？",
    "How many days are in a week?",
    "公告要蓋印信嗎？",
]
REFERENCES: list[str | None] = [
    "令用於公布法律、發布命令，以及任免、獎懲官員。",
    "函是機關之間公文往復時使用的公文。",
    "Paris.",
    None,
    "Seven.",
    None,
]
ANSWERS = [
    "令用於公布法律和任免官員。",
    "我不知道。",
    "Paris is the capital of France.",
    "簽是幕僚人員向長官陳述意見的文書。",
    "A week has ten days.",
    "公告公告公告公告公告公告公告公告",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stub(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[inference_pb2_grpc.InferenceServiceAsyncStub]:
    root: Path = tmp_path_factory.mktemp("judge-smollm2")
    data_dir = root / "data"
    basemodels.register(SMOL, str(pulled_smollm2()), data_dir)
    nats = NatsServer(root / "jetstream")
    nats.start()
    try:
        common = CommonSettings(
            data_dir=data_dir, nats_url=nats.url, database_url=f"sqlite:///{root / 'r.db'}"
        )
        settings = InferenceSettings(
            grpc_port=0, engine="transformers", dtype="float32", shutdown_grace_s=1, common=common
        )
        async with running(serve_inference, settings) as inference:
            assert inference.grpc is not None
            async with open_channel(f"127.0.0.1:{inference.grpc.port}") as channel:
                yield inference_pb2_grpc.InferenceServiceStub(channel)
    finally:
        nats.stop()


async def test_every_answer_gets_a_readable_rubric_score(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
) -> None:
    scores = await judge.rubric_scores(stub, "acme", SMOL, QUESTIONS, REFERENCES, ANSWERS)
    assert len(scores) == len(ANSWERS)
    assert all(s.score is not None and 1 <= s.score <= 10 for s in scores), scores
    assert all(s.score == int(s.score) for s in scores if s.score is not None)
    assert all(len(s.reason) <= judge.MAX_REASON_CHARS for s in scores)


async def test_every_pair_gets_a_preference(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
) -> None:
    others = ["我不知道。", "函是公文。", "London.", "簽。", "Seven days.", "公告要蓋印信。"]
    result = await judge.pairwise(
        stub, "acme", SMOL, ("a", "b"), QUESTIONS, REFERENCES, (ANSWERS, others), seed=3
    )
    assert result.wins["unparsed"] == 0 and sum(result.wins.values()) == len(QUESTIONS)
