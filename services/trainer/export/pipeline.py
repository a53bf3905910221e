"""One export, start to end: merge → F16 GGUF → quantise → Modelfile → drift check →
Ollama import (when a server is configured). No NATS here: the job handler (worker.py),
the benchmark and the tests drive it, and `Progress` is how they hear about each step.

The steps are blocking library calls; they run in threads so the event loop keeps the
job's heartbeat and cancel checks going.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import shlex
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.trainer.export.convert import check_architecture, check_converter, convert_to_gguf
from services.trainer.export.merge import merge_model
from services.trainer.export.modelfile import build_ollama_model
from services.trainer.export.ollama_import import import_model
from services.trainer.export.quantize import quantize_gguf
from services.trainer.export.samples import Samples, load_samples
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import ExportSpec
from services.trainer.export.template_check import check_templates
from services.trainer.export.verify import (
    Budget,
    DriftReport,
    FullPrecision,
    drift_report,
    drift_summary,
    full_precision_answers,
    gguf_answers,
)
from tuneloop_core.errors import TuneloopError
from tuneloop_core.quantization import AUTO, LADDER, QUANTIZATIONS, default_ollama_name

STEPS = ("merge", "convert", "quantize", "modelfile", "verify", "ollama")
Progress = Callable[[str, str], Awaitable[None]]  # step, message
MAX_VERIFY_N_CTX = 2048  # tokens; prompts plus the generated answer fit easily


@dataclass(frozen=True)
class Rung:
    """One quantisation tried: its file size and how far its answers drifted."""

    quantization: str
    bytes: int
    rouge_l_drift: float | None
    greedy_identical: float
    within_budget: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chosen:
    """The GGUF an export keeps, and why."""

    quantization: str
    gguf: Path
    drift: DriftReport | None
    tokenization: dict[str, Any] | None
    rungs: list[Rung]
    choice: str | None  # in plain words: what was tried and what was kept
    quantize_s: float
    verify_s: float


@dataclass(frozen=True)
class ExportOutput:
    gguf: Path
    modelfile: Path
    report: Path
    result: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _model_dir_architecture(base_path: str) -> str | None:
    config = Path(base_path) / "config.json"
    if not config.is_file():
        return None  # a hub id: transformers will say what is wrong when merging
    archs = json.loads(config.read_text()).get("architectures") or ["(none given)"]
    return str(archs[0])


async def run_export(
    spec: ExportSpec, settings: ExportSettings, out_dir: Path, progress: Progress
) -> ExportOutput:
    """Write `<stem>.<quant>.gguf`, `Modelfile` and `export-report.json` into `out_dir`."""
    check_converter(settings.converter_dir)
    architecture = _model_dir_architecture(spec.base_path)
    if architecture is not None:
        await asyncio.to_thread(check_architecture, settings.converter_dir, architecture)
    shutil.rmtree(out_dir, ignore_errors=True)  # a redelivered job starts over
    work = out_dir / "work"
    timings: dict[str, float] = {}

    started = time.monotonic()
    what = f"{spec.adapter_path and 'adapter '}{spec.model}"
    await progress("merge", f"Merging {what} into {spec.base_model} (float32)")
    merged = await asyncio.to_thread(merge_model, spec.base_path, spec.adapter_path, work / "hf")
    timings["merge_s"] = time.monotonic() - started

    await progress("convert", "Converting to an F16 GGUF with llama.cpp's convert_hf_to_gguf.py")
    f16 = work / "model.f16.gguf"
    converted = await asyncio.to_thread(
        convert_to_gguf,
        settings.converter_dir,
        merged.path,
        f16,
        pre_tokenizer=spec.pre_tokenizer or None,
    )
    timings["convert_s"] = converted.seconds
    if converted.pre_tokenizer_override:
        await progress(
            "convert",
            f"llama.cpp did not recognise the tokenizer; used the explicit pre-tokenizer "
            f"override '{converted.pre_tokenizer_override}' (checked by the parity test below)",
        )

    await progress(
        "modelfile", "Checking the chat template and stop tokens (model, GGUF, Modelfile)"
    )
    ollama_model = await asyncio.to_thread(
        build_ollama_model, merged.path, "", spec.system or None, spec.context_length or None
    )
    await asyncio.to_thread(check_templates, merged.path, f16, ollama_model)

    samples = await asyncio.to_thread(
        load_samples,
        spec.prompts,
        Path(spec.dataset_path) if spec.dataset_path else None,
        spec.system,
        settings.verify_prompts,
    )
    full: FullPrecision | None = None
    began = time.monotonic()
    if samples.samples and settings.verify_prompts > 0:
        await progress(
            "verify", f"Answering {len(samples.samples)} prompts with the full-precision model"
        )
        full = await asyncio.to_thread(
            full_precision_answers, merged.path, samples.samples, settings.verify_max_tokens
        )
    answering_s = time.monotonic() - began
    chosen = await _quantize_within_budget(spec, settings, f16, out_dir, samples, full, progress)
    gguf = chosen.gguf
    timings["quantize_s"] = chosen.quantize_s
    if full is not None:
        timings["verify_s"] = answering_s + chosen.verify_s
    if chosen.choice:
        await progress("verify", chosen.choice)

    system = spec.system or samples.dataset_system
    await progress("modelfile", "Writing the Modelfile (template from the chat template)")
    ollama_model = dataclasses.replace(
        ollama_model,
        gguf_name=gguf.name,
        system=system if system and ollama_model.pieces.supports_system else None,
    )
    modelfile = out_dir / "Modelfile"
    modelfile.write_text(ollama_model.modelfile())
    name = spec.ollama_model or default_ollama_name(spec.model, chosen.quantization)
    command = f"ollama create {shlex.quote(name)} -f Modelfile"
    drift = chosen.drift.as_dict() if chosen.drift is not None else None
    tokenization = chosen.tokenization

    ollama: dict[str, Any] | None = None
    if settings.ollama_url:
        await progress("ollama", f"Importing into Ollama at {settings.ollama_url} as {name}")

        async def on_status(status: str, done: int, total: int) -> None:
            shown = f" ({done}/{total} bytes)" if total else ""
            await progress("ollama", f"Ollama: {status}{shown}")

        try:
            ollama = await import_model(
                settings.ollama_url, gguf, ollama_model, name, on_status, settings.ollama_timeout_s
            )
        except TuneloopError as exc:
            # The GGUF and the Modelfile are still good; say what failed, keep the export.
            ollama = {"url": settings.ollama_url, "model": name, "error": exc.message}
            await progress("ollama", f"Ollama import failed: {exc.message}")

    shutil.rmtree(work, ignore_errors=True)  # the float32 merge is large and re-creatable
    timings["total_s"] = time.monotonic() - started
    result: dict[str, Any] = {
        "model": spec.model,
        "base_model": spec.base_model,
        "architecture": merged.architecture,
        "quantization": chosen.quantization,
        "requested_quantization": spec.quantization,
        "choice": chosen.choice,
        "rungs": [rung.as_dict() for rung in chosen.rungs],
        "file_type": QUANTIZATIONS[chosen.quantization],
        "gguf": {"filename": gguf.name, "bytes": gguf.stat().st_size, "sha256": _sha256(gguf)},
        "pre_tokenizer_override": converted.pre_tokenizer_override,
        "system": system,
        "ollama_model": name,
        "ollama_create_command": command,
        "ollama": ollama,
        "tokenization": tokenization,
        "drift": drift,
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    report_path = out_dir / "export-report.json"
    report_path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return ExportOutput(gguf=gguf, modelfile=modelfile, report=report_path, result=result)


async def _quantize_within_budget(
    spec: ExportSpec,
    settings: ExportSettings,
    f16: Path,
    out_dir: Path,
    samples: Samples,
    full: FullPrecision | None,
    progress: Progress,
) -> Chosen:
    """Quantise to the asked type, or with `auto` climb LADDER and keep the first rung
    whose answers stay within the budget (the last rung when none does)."""
    budget = Budget(settings.max_rouge_l_drift, settings.min_greedy_identical)
    auto = spec.quantization == AUTO
    ladder = LADDER if auto and full is not None else (LADDER[0] if auto else spec.quantization,)
    n_ctx = min(spec.context_length or MAX_VERIFY_N_CTX, MAX_VERIFY_N_CTX)
    rungs: list[Rung] = []
    quantize_s = verify_s = 0.0
    tokenization: dict[str, Any] | None = None
    previous = ""  # why the rung before was not kept, said with the next step
    for index, quantization in enumerate(ladder):
        await progress("quantize", f"{previous}Quantising to {quantization}")
        gguf = out_dir / f"{spec.file_stem}.{quantization}.gguf"
        quantize_s += await asyncio.to_thread(
            quantize_gguf, f16, gguf, quantization, settings.threads
        )
        if full is None:
            choice = (
                f"auto kept {quantization} unchecked: the drift check had no prompts"
                if auto
                else None
            )
            return Chosen(quantization, gguf, None, None, [], choice, quantize_s, verify_s)
        await progress(
            "verify", f"Comparing {len(samples.samples)} prompts: full precision vs {quantization}"
        )
        began = time.monotonic()
        generations, parity = await asyncio.to_thread(
            gguf_answers,
            gguf,
            full,
            samples.samples,
            settings.verify_max_tokens,
            settings.threads,
            n_ctx,
            tokenization is None,
        )
        verify_s += time.monotonic() - began
        tokenization = tokenization or parity
        report = drift_report(samples.samples, generations, quantization, budget)
        ok = not report.flagged
        size = gguf.stat().st_size
        rungs.append(Rung(quantization, size, report.rouge_l_drift, report.greedy_identical, ok))
        last = index == len(ladder) - 1
        if ok or last:
            choice = _choice(rungs, budget) if auto else None
            if auto and not ok:  # the advice to try auto is no advice here
                advice = (
                    f"no type from {LADDER[0]} to {LADDER[-1]} stayed within the drift budget; "
                    "for answers closer to the full-precision model, export with quantization "
                    "'f16'"
                )
                report = dataclasses.replace(report, advice=advice)
            return Chosen(
                quantization, gguf, report, tokenization, rungs, choice, quantize_s, verify_s
            )
        lost = drift_summary(report.rouge_l_drift, report.greedy_identical)
        previous = f"{quantization} {lost}, beyond the drift budget. "
        gguf.unlink()
    raise AssertionError("unreachable: the last rung returns")


def _choice(rungs: list[Rung], budget: Budget) -> str:
    """'q4_K_M lost 6.1 ROUGE-L points, 41 % …; q5_K_M lost 1.4 … — kept q5_K_M (118 MiB),
    the smallest within the budget (…)'."""
    tried = "; ".join(
        f"{r.quantization} {drift_summary(r.rouge_l_drift, r.greedy_identical)}" for r in rungs
    )
    kept = rungs[-1]
    size = f"{kept.bytes / 2**20:.0f} MiB"
    if kept.within_budget:
        return (
            f"{tried} — kept {kept.quantization} ({size}), the smallest within the drift "
            f"budget ({budget})"
        )
    return (
        f"{tried} — none within the drift budget ({budget}); kept {kept.quantization} "
        f"({size}), the largest type tried"
    )
