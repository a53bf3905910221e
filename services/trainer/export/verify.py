"""Does the GGUF behave like the model it came from? Tokenisation parity between the HF
tokenizer and llama.cpp's, and the same prompts, greedy, through the full-precision model
(transformers, float32) and the quantised GGUF (llama.cpp): the drift report.

Both sides get the same prompt token ids (the HF chat template's), so a generation
difference is the weights' and not the tokenizer's; the parity check covers the tokenizer.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.trainer.export.metrics import exact_match, mean, prefix_agreement, rouge_l
from services.trainer.export.samples import Sample
from services.trainer.stops import stop_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generations:
    prompt_ids: list[list[int]]
    full: list[list[int]]  # generated ids, full precision
    quantized: list[list[int]]  # generated ids, GGUF
    full_text: list[str]
    quantized_text: list[str]


def open_gguf(path: Path, n_ctx: int, threads: int = 0) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=str(path), n_ctx=n_ctx, n_threads=threads or None, verbose=False, seed=0
    )


def gguf_greedy(llm: Any, prompt: list[int], max_tokens: int, stop: set[int]) -> list[int]:
    """Greedy ids (top-k 1, no penalties) until a stop id or `max_tokens`."""
    out: list[int] = []
    for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0):
        if token in stop or len(out) >= max_tokens:
            break
        out.append(int(token))
    return out


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenization_parity(tokenizer: Any, llm: Any, texts: list[str]) -> dict[str, Any]:
    """Each text tokenised by both (special tokens parsed, no BOS added)."""
    mismatched: list[dict[str, Any]] = []
    for text in texts:
        hf = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        cpp = list(llm.tokenize(text.encode(), add_bos=False, special=True))
        if hf != cpp:
            mismatched.append({"text": text[:200], "hf": hf[:64], "llama_cpp": cpp[:64]})
    return {
        "texts": len(texts),
        "matched": len(texts) - len(mismatched),
        "mismatches": mismatched[:3],
    }


@dataclass(frozen=True)
class FullPrecision:
    """The full-precision model's greedy answers, generated once per export: every
    quantisation tried is compared with them."""

    tokenizer: Any
    stop: set[int]
    prompt_ids: list[list[int]]
    answers: list[list[int]]

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()


def full_precision_answers(
    model_dir: Path, samples: list[Sample], max_tokens: int, batch_size: int = 16
) -> FullPrecision:
    """Greedy answers of the merged model (transformers, float32), `batch_size` prompts at a
    time, left-padded; a row's answer ends at its first stop id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    stop = stop_ids(model_dir, tokenizer)
    prompts = [prompt_ids(tokenizer, s.messages) for s in samples]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop, default=0)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    answers: list[list[int]] = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            width = max(len(ids) for ids in batch)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
            output = model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=max_tokens,
                do_sample=False,
                num_beams=1,
                repetition_penalty=1.0,
                eos_token_id=sorted(stop) or None,
                pad_token_id=pad,
            )
            for row in output[:, width:].tolist():
                ended = next((i for i, t in enumerate(row) if t in stop), len(row))
                answers.append([int(t) for t in row[:ended]])
    return FullPrecision(tokenizer, stop, prompts, answers)


def gguf_answers(
    gguf: Path,
    full: FullPrecision,
    samples: list[Sample],
    max_tokens: int,
    threads: int,
    n_ctx: int,
    parity: bool,
) -> tuple[Generations, dict[str, Any] | None]:
    """The GGUF's greedy answers to the same prompt ids beside the full-precision ones, and
    (when `parity`) the tokenisation parity report."""
    llm = open_gguf(gguf, n_ctx, threads)
    report = None
    try:
        quantized = [gguf_greedy(llm, ids, max_tokens, full.stop) for ids in full.prompt_ids]
        if parity:
            tokenizer = full.tokenizer
            texts = [
                str(tokenizer.apply_chat_template(s.messages, tokenize=False)) for s in samples
            ]
            texts += [m["content"] for s in samples for m in s.messages]
            report = tokenization_parity(tokenizer, llm, texts)
    finally:
        llm.close()
    generations = Generations(
        full.prompt_ids,
        full.answers,
        quantized,
        [full.decode(x) for x in full.answers],
        [full.decode(x) for x in quantized],
    )
    return generations, report


@dataclass(frozen=True)
class DriftReport:
    prompts: int
    greedy_identical: float  # share of prompts whose greedy answers are identical, %
    greedy_prefix_agreement: float  # mean share of tokens agreeing from the start, %
    rouge_l_vs_full_precision: float  # quantised answers scored against full-precision ones
    references: int  # prompts with a dataset answer
    rouge_l_full: float | None  # against references, points
    rouge_l_quantized: float | None
    rouge_l_drift: float | None  # full − quantised, points (positive: quantisation lost)
    exact_match_full: float | None
    exact_match_quantized: float | None
    flagged: bool
    advice: str | None
    examples: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    """How far a quantised model's answers may drift from the full-precision model's."""

    max_rouge_l_drift: float  # points lost against the references
    min_greedy_identical: float  # % of greedy answers identical

    def __str__(self) -> str:
        return (
            f"≤ {self.max_rouge_l_drift:g} ROUGE-L points lost, "
            f"≥ {self.min_greedy_identical:g} % of greedy answers identical"
        )


def drift_summary(drift: float | None, identical: float) -> str:
    """'lost 1.4 ROUGE-L points, 91 % identical' (no references: only the second half)."""
    lost = f"lost {drift:.1f} ROUGE-L points, " if drift is not None else ""
    return f"{lost}{identical:.0f} % of greedy answers identical"


def within(budget: Budget, drift: float | None, identical: float) -> bool:
    """A missing ROUGE-L drift (prompts with no reference answers) passes that half."""
    lost_ok = drift is None or drift <= budget.max_rouge_l_drift
    return lost_ok and identical >= budget.min_greedy_identical


def drift_report(
    samples: list[Sample], gen: Generations, quantization: str, budget: Budget
) -> DriftReport:
    identical = [100.0 if a == b else 0.0 for a, b in zip(gen.full, gen.quantized, strict=True)]
    prefix = [100.0 * prefix_agreement(a, b) for a, b in zip(gen.full, gen.quantized, strict=True)]
    vs_full = [rouge_l(q, f) for q, f in zip(gen.quantized_text, gen.full_text, strict=True)]
    refs = [(i, s.reference) for i, s in enumerate(samples) if s.reference is not None]
    full_r = quant_r = drift = em_full = em_quant = None
    if refs:
        full_r = mean([rouge_l(gen.full_text[i], ref) for i, ref in refs])
        quant_r = mean([rouge_l(gen.quantized_text[i], ref) for i, ref in refs])
        drift = full_r - quant_r
        em_full = mean([exact_match(gen.full_text[i], ref) for i, ref in refs])
        em_quant = mean([exact_match(gen.quantized_text[i], ref) for i, ref in refs])
    flagged = quantization != "f16" and not within(budget, drift, mean(identical))
    advice = (
        f"{quantization} {drift_summary(drift, mean(identical))}: beyond the drift budget "
        f"({budget}); quantization 'auto' keeps the smallest type within it"
        if flagged
        else None
    )
    examples = [
        {"prompt": s.messages[-1]["content"], "full": f, "quantized": q}
        for s, f, q in list(zip(samples, gen.full_text, gen.quantized_text, strict=True))[:3]
    ]
    return DriftReport(
        prompts=len(samples),
        greedy_identical=mean(identical),
        greedy_prefix_agreement=mean(prefix),
        rouge_l_vs_full_precision=mean(vs_full),
        references=len(refs),
        rouge_l_full=full_r,
        rouge_l_quantized=quant_r,
        rouge_l_drift=drift,
        exact_match_full=em_full,
        exact_match_quantized=em_quant,
        flagged=flagged,
        advice=advice,
        examples=examples,
    )
