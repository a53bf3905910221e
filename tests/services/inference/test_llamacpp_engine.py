"""The llama.cpp engine on an F16 GGUF of the tiny model: same greedy answer as the
transformers engine on the original weights, stop strings, lengths, no adapters, logprobs
as a transformers forward pass gives them; the whole stack serving the GGUF by name through
the OpenAI API; and grammars (JSON schema, choice, regex, a required tool call) enforced on
the bundled SmolLM2 GGUF, whose long-prompt logprobs match llama.cpp's own `logits_all`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import jsonschema
import openai
import pytest
import pytest_asyncio
import torch
from transformers import AutoModelForCausalLM

from services.inference.constraints import grammar_for
from services.inference.engines.base import (
    BaseModelSpec,
    ChatTurn,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
    TokenLogprob,
    ToolSpec,
)
from services.inference.engines.grammar import GrammarCompiler
from services.inference.engines.llamacpp_engine import (
    LlamaCppEngine,
    PieceDetokenizer,
    token_pieces,
)
from services.inference.engines.transformers_engine import TransformersEngine
from services.trainer.export.convert import convert_to_gguf
from services.trainer.export.settings import ExportSettings
from support.stack import api_stack
from support.tiny_model import build_tiny_model
from tuneloop.inference.v1 import inference_pb2 as pb
from tuneloop_core.basemodels import KNOWN_MODELS
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.gguf_convert import installed_gguf
from tuneloop_core.tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

pytestmark = pytest.mark.slow  # llama.cpp's converter runs once per module (seconds)
MESSAGES = (ChatTurn("user", "公文的主旨應該怎麼寫？"),)
in_module_loop = pytest.mark.asyncio(loop_scope="module")
CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "country": {"type": "string", "maxLength": 20},
        "is_capital": {"type": "boolean"},
    },
    "required": ["city", "country", "is_capital"],
    "additionalProperties": False,
}
WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    json.dumps(
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
            "required": ["city", "unit"],
        }
    ),
)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("llamacpp")
    base = build_tiny_model(root / "base")
    out = root / "export" / "tiny.f16.gguf"
    out.parent.mkdir()
    convert_to_gguf(ExportSettings().converter_dir, base, out, pre_tokenizer="gpt-2")
    return base, out


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF that `tuneloop models pull` converts from."""
    known = KNOWN_MODELS["smollm2-135m"]
    return installed_gguf(known.package, known.version, known.gguf_file, lambda *_: None)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def smollm2() -> AsyncIterator[LlamaCppEngine]:
    engine = LlamaCppEngine(BaseModelSpec("smollm2-gguf", smollm2_gguf()), max_model_len=1024)
    await engine.start()
    yield engine
    await engine.close()


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


async def answer(
    engine: LlamaCppEngine,
    question: str,
    constraint: pb.OutputConstraint,
    tools: tuple[ToolSpec, ...] = (),
) -> tuple[str, GenerationChunk]:
    request = GenerationRequest(
        "g",
        messages=(ChatTurn("user", question),),
        sampling=greedy(80),
        grammar=grammar_for(constraint, tools),
        tools=tools,
    )
    chunks = await collect(engine, request)
    return "".join(c.text for c in chunks), chunks[-1]


@in_module_loop
async def test_json_schema_answer_validates(smollm2: LlamaCppEngine) -> None:
    constraint = pb.OutputConstraint(json_schema=json.dumps(CITY_SCHEMA))
    text, last = await answer(smollm2, "Which is the largest city of France?", constraint)
    assert last.finish_reason == "stop"
    jsonschema.validate(json.loads(text), CITY_SCHEMA)


@in_module_loop
async def test_choice_and_regex_answers_match(smollm2: LlamaCppEngine) -> None:
    choices = pb.OutputConstraint(choice=pb.Choices(values=["Paris", "Lyon", "Marseille"]))
    text, last = await answer(smollm2, "What is the capital of France?", choices)
    assert text in {"Paris", "Lyon", "Marseille"} and last.finish_reason == "stop"

    year = pb.OutputConstraint(regex=r"In (19|20)\d\d\.")
    text, _ = await answer(smollm2, "When did the Berlin wall fall?", year)
    assert re.fullmatch(r"In (19|20)\d\d\.", text), text


@in_module_loop
async def test_required_tool_call_parses(smollm2: LlamaCppEngine) -> None:
    required = pb.OutputConstraint(
        tool_calls=pb.ToolCallConstraint(mode=pb.TOOL_CHOICE_MODE_REQUIRED)
    )
    text, last = await answer(smollm2, "What is the weather in Paris?", required, (WEATHER,))
    assert last.finish_reason == "stop"
    assert text.startswith(TOOL_CALL_OPEN) and text.endswith(TOOL_CALL_CLOSE), text
    call = json.loads(text[len(TOOL_CALL_OPEN) : -len(TOOL_CALL_CLOSE)])
    assert call["name"] == "get_weather"
    jsonschema.validate(call["arguments"], json.loads(WEATHER.parameters_json))


@in_module_loop
async def test_a_broken_grammar_fails_the_request(smollm2: LlamaCppEngine) -> None:
    request = GenerationRequest(
        "bad", messages=MESSAGES, sampling=greedy(5), grammar='root ::= "unclosed'
    )
    with pytest.raises(RuntimeError):
        await collect(smollm2, request)


def test_token_pieces() -> None:
    """<|im_start|> is one token whose piece is empty: no grammar may emit it as text, while
    the turn-ending tokens stay the grammar's stop tokens; pieces over 32 bytes are whole."""
    import llama_cpp
    import xgrammar as xgr

    llm = llama_cpp.Llama(model_path=str(smollm2_gguf()), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    pieces = token_pieces(vocab)
    im_start = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)[0]
    im_end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[0]
    paris = llm.tokenize(b"Paris", add_bos=False, special=False)[0]
    assert pieces[im_start] == b"" and pieces[paris] == b"Paris"
    longest = max(range(len(pieces)), key=lambda t: len(pieces[t]))
    assert len(pieces[longest]) > 32 and llm.detokenize([longest]) == b""  # its 32-byte buffer
    text = PieceDetokenizer(pieces).decode([paris, longest, im_end])
    assert text == "Paris" + pieces[longest].decode()

    compiler = GrammarCompiler.for_token_bytes(pieces, {im_end})
    matcher = compiler.matcher(str(xgr.Grammar.from_regex(r"[^\n]*")))
    bitmask = xgr.allocate_token_bitmask(1, compiler.vocab_size)
    matcher.fill_next_token_bitmask(bitmask)
    words = bitmask[0].tolist()

    def allowed(token: int) -> bool:
        return bool((words[token // 32] >> (token % 32)) & 1)

    assert allowed(paris) and allowed(im_end) and not allowed(im_start)
    llm.close()


def assert_matches(entries: list[TokenLogprob], expected: torch.Tensor, tolerance: float) -> None:
    """`entries[k]` scores its token as row k of `expected` (log-softmax), alternatives
    most likely first."""
    assert len(entries) == len(expected)
    for entry, row in zip(entries, expected, strict=True):
        assert entry.logprob == pytest.approx(row[entry.token_id].item(), abs=tolerance)
        values = [t.logprob for t in entry.top]
        assert values == sorted(values, reverse=True)
        for alternative in entry.top:
            assert alternative.logprob == pytest.approx(
                row[alternative.token_id].item(), abs=tolerance
            )


async def test_logprobs_match_transformers(tiny_gguf: tuple[Path, Path]) -> None:
    base, gguf = tiny_gguf
    cpp = LlamaCppEngine(BaseModelSpec("tiny-gguf", gguf))
    await cpp.start()
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)

    def forward(ids: list[int]) -> torch.Tensor:
        with torch.inference_mode():
            return torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)

    try:
        plain = GenerationRequest("p", messages=MESSAGES, sampling=greedy(12))
        asked = replace(plain, sampling=replace(plain.sampling, logprobs=3, prompt_logprobs=2))
        without = await collect(cpp, plain)
        assert all(not c.logprobs and not c.prompt_logprobs for c in without)
        chunks = await collect(cpp, asked)
        ids = [t for c in chunks for t in c.token_ids]
        assert ids == [t for c in without for t in c.token_ids] and len(ids) == 12
        assert all(len(c.logprobs) == len(c.token_ids) for c in chunks)
        prompt = chunks[0].prompt_logprobs
        assert len(prompt) == cpp.count_prompt_tokens(plain)
        assert prompt[0].logprob is None and prompt[0].top == ()
        assert all(len(e.top) == 2 for e in prompt[1:]) and not chunks[1].prompt_logprobs
        prompt_ids = [e.token_id for e in prompt]
        expected = forward(prompt_ids + ids)[:-1]  # F16 weights: close, not equal
        assert_matches(prompt[1:], expected[: len(prompt) - 1], 0.05)
        entries = [e for c in chunks for e in c.logprobs]
        assert_matches(entries, expected[len(prompt) - 1 :], 0.05)
        assert all(e.top[0].token_id == e.token_id for e in entries)  # greedy, free text

        # Under a grammar, the logprobs are still the model's own, before the mask.
        grammar = 'root ::= "The quick brown fox"'
        constrained = replace(asked, grammar=grammar, sampling=greedy(30))
        constrained = replace(constrained, sampling=replace(constrained.sampling, logprobs=1))
        chunks = await collect(cpp, constrained)
        assert "".join(c.text for c in chunks) == "The quick brown fox"
        ids = [t for c in chunks for t in c.token_ids]
        entries = [e for c in chunks for e in c.logprobs]
        assert_matches(entries, forward(prompt_ids + ids)[len(prompt) - 1 : -1], 0.05)
        assert any(e.top[0].token_id != e.token_id for e in entries)
    finally:
        await cpp.close()


@in_module_loop
async def test_long_prompt_logprobs_match_logits_all(smollm2: LlamaCppEngine) -> None:
    """A prompt longer than one llama.cpp batch (512 tokens) is scored batch by batch, and
    the generation after it continues from the same cache."""
    import llama_cpp

    prompt = " ".join(f"{i} apples and {i + 1} pears." for i in range(60))  # 580 tokens
    plain = GenerationRequest("p", prompt=prompt, sampling=greedy(8))
    asked = replace(plain, sampling=replace(plain.sampling, prompt_logprobs=0))
    without = await collect(smollm2, plain)
    chunks = await collect(smollm2, asked)
    assert [t for c in chunks for t in c.token_ids] == [t for c in without for t in c.token_ids]
    scored = chunks[0].prompt_logprobs
    ids = [e.token_id for e in scored]
    assert len(ids) == smollm2.count_prompt_tokens(plain) > 512
    assert all(e.top == () for e in scored)

    reference = llama_cpp.Llama(
        model_path=str(smollm2_gguf()), n_ctx=1024, logits_all=True, verbose=False
    )
    try:
        reference.eval(ids)
        expected = torch.log_softmax(torch.from_numpy(reference.scores[: len(ids) - 1]), dim=-1)
    finally:
        reference.close()
    assert_matches(scored[1:], expected, 0.01)
