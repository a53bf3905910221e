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


def stop_ids(model_dir: Path, tokenizer: Any) -> set[int]:
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:
        eos = None
    ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return {int(i) for i in ids}


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


def generate_both(
    model_dir: Path, gguf: Path, samples: list[Sample], max_tokens: int, threads: int, n_ctx: int
) -> tuple[Generations, dict[str, Any]]:
    """Greedy generations of both models, and the tokenisation parity report."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    stop = stop_ids(model_dir, tokenizer)
    prompts = [prompt_ids(tokenizer, s.messages) for s in samples]
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    full: list[list[int]] = []
    with torch.inference_mode():
        for ids in prompts:
            output = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=max_tokens,
                do_sample=False,
                num_beams=1,
                repetition_penalty=1.0,
                eos_token_id=sorted(stop) or None,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
            full.append([int(t) for t in output[0, len(ids) :] if int(t) not in stop])
    del model
    llm = open_gguf(gguf, n_ctx, threads)
    try:
        quantized = [gguf_greedy(llm, ids, max_tokens, stop) for ids in prompts]
        texts = [str(tokenizer.apply_chat_template(s.messages, tokenize=False)) for s in samples]
        texts += [m["content"] for s in samples for m in s.messages]
        parity = tokenization_parity(tokenizer, llm, texts)
    finally:
        llm.close()

    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids, skip_special_tokens=True)).strip()

    generations = Generations(
        prompts, full, quantized, [decode(x) for x in full], [decode(x) for x in quantized]
    )
    return generations, parity


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


def drift_report(
    samples: list[Sample], gen: Generations, quantization: str, threshold: float
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
    lossy = quantization not in ("f16", "q8_0")
    flagged = bool(lossy and drift is not None and drift > threshold)
    advice = (
        f"{quantization} lost {drift:.1f} ROUGE-L points against the full-precision model "
        f"(threshold {threshold:g}); export with quantization 'q8_0' for answers closer to it"
        if flagged and drift is not None
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
