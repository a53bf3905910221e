"""The llama.cpp engine on an F16 GGUF of the tiny model: same greedy answer as the
transformers engine on the original weights, stop strings, lengths, no adapters; and the
whole stack serving the GGUF by name through the OpenAI API."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from services.inference.engines.base import (
    BaseModelSpec,
    ChatTurn,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
)
from services.inference.engines.llamacpp_engine import LlamaCppEngine
from services.inference.engines.transformers_engine import TransformersEngine
from services.trainer.export.convert import convert_to_gguf
from services.trainer.export.settings import ExportSettings
from support.stack import api_stack
from support.tiny_model import build_tiny_model
from tuneloop_core.errors import InvalidRequestError

pytestmark = pytest.mark.slow  # llama.cpp's converter runs once per module (seconds)
MESSAGES = (ChatTurn("user", "公文的主旨應該怎麼寫？"),)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("llamacpp")
    base = build_tiny_model(root / "base")
    out = root / "export" / "tiny.f16.gguf"
    out.parent.mkdir()
    convert_to_gguf(ExportSettings().converter_dir, base, out, pre_tokenizer="gpt-2")
    return base, out


async def collect(engine: object, request: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.generate(request)]  # type: ignore[attr-defined]


def greedy(max_tokens: int, stop: tuple[str, ...] = ()) -> SamplingSettings:
    return SamplingSettings(max_tokens=max_tokens, temperature=0.0, stop=stop)


async def test_greedy_answer_matches_transformers(tiny_gguf: tuple[Path, Path]) -> None:
    base, gguf = tiny_gguf
    cpp = LlamaCppEngine(BaseModelSpec("tiny-gguf", gguf.parent))  # an export's folder
    hf = TransformersEngine(BaseModelSpec("tiny", base), dtype="float32")
    await cpp.start()
    await hf.start()
    try:
        request = GenerationRequest("r1", messages=MESSAGES, sampling=greedy(12))
        assert cpp.count_prompt_tokens(request) == hf.count_prompt_tokens(request)
        ours, theirs = await collect(cpp, request), await collect(hf, request)
        assert "".join(c.text for c in ours) == "".join(c.text for c in theirs)
        assert ours[-1].finish_reason == "length" and ours[-1].completion_tokens == 12
        assert cpp.context_length == 256  # the model's own, below the 4096 cap

        text = "".join(c.text for c in ours)
        cut = text[3:5]
        stopped = await collect(
            cpp, GenerationRequest("r2", messages=MESSAGES, sampling=greedy(12, (cut,)))
        )
        assert "".join(c.text for c in stopped) == text[: text.index(cut)]
        assert stopped[-1].finish_reason == "stop"

        with pytest.raises(InvalidRequestError):
            await cpp.load_adapter("x", base)
    finally:
        await cpp.close()
        await hf.close()


async def test_the_stack_serves_a_gguf_by_name(
    tiny_gguf: tuple[Path, Path], tmp_path: Path
) -> None:
    _, gguf = tiny_gguf
    async with api_stack(tmp_path, gguf_models={"tiny-gguf": str(gguf)}) as stack:
        client = openai.AsyncOpenAI(
            base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
        )
        models = [m.id for m in (await client.models.list()).data]
        assert "tiny-gguf" in models
        reply = await client.chat.completions.create(
            model="tiny-gguf",
            messages=[{"role": "user", "content": "Hello"}],
            max_tokens=5,
            temperature=0,
        )
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage is not None and reply.usage.completion_tokens == 5
