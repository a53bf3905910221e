"""One export, start to end: merge → F16 GGUF → quantise → Modelfile → drift check →
Ollama import (when a server is configured). No NATS here: the job handler (worker.py),
the benchmark and the tests drive it, and `Progress` is how they hear about each step.

The steps are blocking library calls; they run in threads so the event loop keeps the
job's heartbeat and cancel checks going.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer.export.convert import check_architecture, check_converter, convert_to_gguf
from services.trainer.export.merge import merge_model
from services.trainer.export.modelfile import build_ollama_model
from services.trainer.export.ollama_import import import_model
from services.trainer.export.quantize import quantize_gguf
from services.trainer.export.samples import load_samples
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import ExportSpec
from services.trainer.export.verify import drift_report, generate_both
from tuneloop_core.errors import TuneloopError
from tuneloop_core.quantization import QUANTIZATIONS

STEPS = ("merge", "convert", "quantize", "modelfile", "verify", "ollama")
Progress = Callable[[str, str], Awaitable[None]]  # step, message
MAX_VERIFY_N_CTX = 2048  # tokens; prompts plus the generated answer fit easily


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

    await progress("quantize", f"Quantising to {spec.quantization}")
    gguf = out_dir / f"{spec.file_stem}.{spec.quantization}.gguf"
    timings["quantize_s"] = await asyncio.to_thread(
        quantize_gguf, f16, gguf, spec.quantization, settings.threads
    )

    samples = await asyncio.to_thread(
        load_samples,
        spec.prompts,
        Path(spec.dataset_path) if spec.dataset_path else None,
        spec.system,
        settings.verify_prompts,
    )
    system = spec.system or samples.dataset_system
    await progress("modelfile", "Writing the Modelfile (template from the chat template)")
    ollama_model = await asyncio.to_thread(
        build_ollama_model, merged.path, gguf.name, system, spec.context_length or None
    )
    modelfile = out_dir / "Modelfile"
    modelfile.write_text(ollama_model.modelfile())
    name = spec.ollama_model or spec.file_stem.lower()
    command = f"ollama create {shlex.quote(name)} -f Modelfile"

    drift: dict[str, Any] | None = None
    tokenization: dict[str, Any] | None = None
    if samples.samples and settings.verify_prompts > 0:
        await progress(
            "verify", f"Comparing {len(samples.samples)} prompts: full precision vs GGUF"
        )
        began = time.monotonic()
        generations, tokenization = await asyncio.to_thread(
            generate_both,
            merged.path,
            gguf,
            samples.samples,
            settings.verify_max_tokens,
            settings.threads,
            min(spec.context_length or MAX_VERIFY_N_CTX, MAX_VERIFY_N_CTX),
        )
        report = drift_report(
            samples.samples, generations, spec.quantization, settings.drift_threshold
        )
        drift = report.as_dict()
        timings["verify_s"] = time.monotonic() - began
        if report.advice:
            await progress("verify", report.advice)

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
        "quantization": spec.quantization,
        "file_type": QUANTIZATIONS[spec.quantization],
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
