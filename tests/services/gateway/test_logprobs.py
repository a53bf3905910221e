"""OpenAI `logprobs` on chat and completions, and completions' `echo` (how lm-evaluation-
harness and other loglikelihood scorers use an OpenAI-compatible server), through the
unmodified `openai` SDK on the bundled SmolLM2-135M, on each engine."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types import CompletionChoice
from openai.types.chat import ChatCompletionTokenLogprob

from support.smollm2 import SERVED_AS as MODEL
from support.stack import generate_calls

pytestmark = pytest.mark.asyncio(loop_scope="module")
ASK = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
GREEDY: dict[str, Any] = {"model": MODEL, "temperature": 0}
SENSIBLE = "The capital of France is Paris."
SHUFFLED = "France Paris capital is the of."
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 24}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def _token_bytes(token: str) -> bytes:
    """A completions token back to its bytes (`bytes:\\xe5\\x87` where it holds part of a
    UTF-8 character)."""
    if token.startswith("bytes:"):
        return bytes(int(h, 16) for h in token[len("bytes:") :].split("\\x")[1:])
    return token.encode()


def _spelled(content: list[ChatCompletionTokenLogprob]) -> str:
    return b"".join(bytes(t.bytes or []) for t in content).decode()


def _check_chat_token(token: ChatCompletionTokenLogprob, top: int) -> None:
    raw = bytes(token.bytes or [])
    try:
        assert token.token == raw.decode()
    except UnicodeDecodeError:
        assert token.token == "bytes:" + "".join(f"\\x{b:02x}" for b in raw)
    assert token.logprob <= 0
    assert len(token.top_logprobs) == top
    values = [t.logprob for t in token.top_logprobs]
    assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)


async def test_chat_logprobs_spell_the_answer(smollm2: openai.AsyncOpenAI) -> None:
    reply = await smollm2.chat.completions.create(
        messages=ASK, logprobs=True, top_logprobs=3, max_tokens=24, **GREEDY
    )  # type: ignore[call-overload]
    choice = reply.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    content = choice.logprobs.content
    assert _spelled(content) == choice.message.content
    assert len(content) == reply.usage.completion_tokens - (choice.finish_reason == "stop")
    for token in content:
        _check_chat_token(token, 3)
        best = token.top_logprobs[0]  # greedy: the chosen token is the most likely one
        assert (best.token, best.bytes) == (token.token, token.bytes)
        assert best.logprob == pytest.approx(token.logprob, abs=1e-5)


async def test_streamed_chat_logprobs_equal_the_whole_ones(smollm2: openai.AsyncOpenAI) -> None:
    asked: dict[str, Any] = {"messages": ASK, "logprobs": True, "top_logprobs": 2, **GREEDY}
    whole = await smollm2.chat.completions.create(max_tokens=16, **asked)
    stream = await smollm2.chat.completions.create(max_tokens=16, stream=True, **asked)
    text, tokens = "", []
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            if choice.logprobs is not None:
                pieces = choice.logprobs.content or []
                assert _spelled(pieces) == (choice.delta.content or "")  # each its own text
                tokens += pieces
    expected = whole.choices[0].logprobs
    assert expected is not None and expected.content is not None
    assert text == whole.choices[0].message.content
    assert [(t.token, t.bytes) for t in tokens] == [(t.token, t.bytes) for t in expected.content]
    assert [t.logprob for t in tokens] == pytest.approx([t.logprob for t in expected.content])


async def test_chat_n_choices_each_with_their_logprobs(smollm2: openai.AsyncOpenAI) -> None:
    reply = await smollm2.chat.completions.create(
        model=MODEL, messages=ASK, logprobs=True, n=2, temperature=1, seed=7, max_tokens=8
    )
    assert [c.index for c in reply.choices] == [0, 1]
    for choice in reply.choices:
        assert choice.logprobs is not None and choice.logprobs.content
        assert _spelled(choice.logprobs.content) == choice.message.content
        for token in choice.logprobs.content:
            _check_chat_token(token, 0)
    plain = await smollm2.chat.completions.create(messages=ASK, max_tokens=4, **GREEDY)
    assert plain.choices[0].logprobs is None


async def test_tool_call_logprobs_cover_the_generated_text(smollm2: openai.AsyncOpenAI) -> None:
    reply = await smollm2.chat.completions.create(
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
        parallel_tool_calls=False,
        logprobs=True,
        max_tokens=48,
        **GREEDY,
    )
    choice = reply.choices[0]
    assert choice.message.tool_calls and choice.finish_reason == "tool_calls"
    assert choice.logprobs is not None and choice.logprobs.content
    assert "<tool_call>" in _spelled(choice.logprobs.content)  # the markup the calls came from


def _check_completion_logprobs(choice: CompletionChoice, top: int) -> None:
    """The tokens spell the text, each starts at its text_offset, and the logprobs hold."""
    logprobs = choice.logprobs
    assert logprobs is not None
    tokens, offsets = logprobs.tokens or [], logprobs.text_offset or []
    assert b"".join(_token_bytes(t) for t in tokens).decode() == choice.text
    assert len(offsets) == len(tokens) and offsets == sorted(offsets)
    for token, offset in zip(tokens, offsets, strict=True):
        if not token.startswith("bytes:"):
            assert choice.text[offset : offset + len(token)] == token
    for value, best in zip(logprobs.token_logprobs or [], logprobs.top_logprobs or [], strict=True):
        if value is None:
            continue
        assert best is not None and value <= 0 and all(v <= 0 for v in best.values())
        assert top <= len(best) <= top + 1  # the most likely ones and the chosen one


async def test_echo_with_no_tokens_scores_the_prompts(smollm2: openai.AsyncOpenAI) -> None:
    before = generate_calls()
    reply = await smollm2.completions.create(
        model=MODEL, prompt=[SENSIBLE, SHUFFLED], echo=True, max_tokens=0, logprobs=1, n=2
    )
    assert generate_calls() == before + 4  # one token asked for each choice, then dropped
    assert [c.text for c in reply.choices] == [SENSIBLE, SENSIBLE, SHUFFLED, SHUFFLED]
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert {c.finish_reason for c in reply.choices} == {"length"}
    assert reply.usage is not None and reply.usage.completion_tokens == 0
    totals = []
    for choice in reply.choices:
        _check_completion_logprobs(choice, 1)
        assert choice.logprobs is not None and choice.logprobs.token_logprobs
        first, *rest = choice.logprobs.token_logprobs
        assert first is None and choice.logprobs.top_logprobs is not None
        assert choice.logprobs.top_logprobs[0] is None
        assert choice.logprobs.text_offset is not None
        assert choice.logprobs.text_offset == sorted(set(choice.logprobs.text_offset))
        totals.append(sum(v for v in rest if v is not None))
    assert totals[0] == pytest.approx(totals[1])  # the prompt's score, whatever the seed
    assert totals[0] > totals[2]


async def test_echo_of_a_prompt_split_inside_characters(smollm2: openai.AsyncOpenAI) -> None:
    prompt = "東京は日本の首都です。Café ☕"
    reply = await smollm2.completions.create(
        model=MODEL, prompt=prompt, echo=True, max_tokens=0, logprobs=0
    )
    choice = reply.choices[0]
    assert choice.text == prompt
    _check_completion_logprobs(choice, 0)
    assert choice.logprobs is not None and choice.logprobs.tokens
    assert any(t.startswith("bytes:") for t in choice.logprobs.tokens)  # BPE splits 東 and ☕


async def test_completion_logprobs_whole_and_streamed(smollm2: openai.AsyncOpenAI) -> None:
    asked: dict[str, Any] = {"prompt": "The capital of France is", "max_tokens": 12, **GREEDY}
    whole = await smollm2.completions.create(logprobs=2, **asked)
    choice = whole.choices[0]
    _check_completion_logprobs(choice, 2)
    assert choice.logprobs is not None and (choice.logprobs.text_offset or [None])[0] == 0
    stream = await smollm2.completions.create(logprobs=2, stream=True, **asked)
    text, tokens, values, offsets = "", [], [], []
    async for chunk in stream:
        piece = chunk.choices[0]
        text += piece.text
        assert piece.logprobs is not None
        tokens += piece.logprobs.tokens or []
        values += piece.logprobs.token_logprobs or []
        offsets += piece.logprobs.text_offset or []
    assert (text, tokens, offsets) == (
        choice.text,
        choice.logprobs.tokens,
        choice.logprobs.text_offset,
    )
    assert values == pytest.approx(choice.logprobs.token_logprobs)
    plain = await smollm2.completions.create(**asked)
    assert plain.choices[0].logprobs is None and plain.choices[0].text == choice.text


async def test_echo_then_generate(smollm2: openai.AsyncOpenAI) -> None:
    prompt = "The capital of France is"
    whole = await smollm2.completions.create(
        prompt=prompt, echo=True, logprobs=0, max_tokens=6, **GREEDY
    )
    choice = whole.choices[0]
    assert choice.text.startswith(prompt) and len(choice.text) > len(prompt)
    _check_completion_logprobs(choice, 0)
    assert whole.usage is not None and choice.logprobs is not None
    prompt_tokens = whole.usage.prompt_tokens
    assert (choice.logprobs.text_offset or [])[prompt_tokens] == len(prompt)
    stream = await smollm2.completions.create(prompt=prompt, echo=True, stream=True, **GREEDY)
    texts = [c.choices[0].text async for c in stream]
    assert texts[0] == prompt
    plain = await smollm2.completions.create(prompt=prompt, max_tokens=6, **GREEDY)
    assert choice.text == prompt + plain.choices[0].text


@pytest.mark.parametrize(
    ("endpoint", "fields", "param"),
    [
        ("chat", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ("chat", {"logprobs": True, "top_logprobs": -1}, "top_logprobs"),
        ("chat", {"top_logprobs": 2}, "top_logprobs"),
        ("chat", {"logprobs": False, "top_logprobs": 0}, "top_logprobs"),
        ("completions", {"logprobs": 6}, "logprobs"),
        ("completions", {"logprobs": -1}, "logprobs"),
        ("completions", {"max_tokens": 0}, "max_tokens"),
        ("completions", {"max_tokens": -1, "echo": True}, "max_tokens"),
        ("completions", {"suffix": "!", "echo": True}, "suffix"),
        ("completions", {"best_of": 3, "logprobs": 1}, "best_of"),
    ],
    ids=[
        "top-logprobs-over-20",
        "top-logprobs-negative",
        "top-logprobs-without-logprobs",
        "top-logprobs-with-logprobs-false",
        "logprobs-over-5",
        "logprobs-negative",
        "no-tokens-without-echo",
        "negative-max-tokens",
        "suffix",
        "best-of",
    ],
)
async def test_bad_values_are_a_400_naming_the_field(
    smollm2: openai.AsyncOpenAI, endpoint: str, fields: dict[str, Any], param: str
) -> None:
    before = generate_calls()
    with pytest.raises(openai.BadRequestError) as error:
        if endpoint == "chat":
            await smollm2.chat.completions.create(model=MODEL, messages=ASK, **fields)
        else:
            await smollm2.completions.create(model=MODEL, prompt=SENSIBLE, **fields)
    assert error.value.param == param
    assert generate_calls() == before  # refused before the inference service
