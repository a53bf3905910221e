"""HF model directory → F16 GGUF with llama.cpp's `convert_hf_to_gguf.py`.

The converter ships in the llama-cpp-python source distribution; `make setup` unpacks it
(with its `conversion/` package and its own `gguf-py`) into `ExportSettings.converter_dir`.
It runs in a child process (convert_runner.py) so its bundled `gguf` never meets PyPI's.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tuneloop_core.errors import InternalError, InvalidRequestError, ServiceUnavailableError

log = logging.getLogger(__name__)
RUNNER = Path(__file__).with_name("convert_runner.py")
USER_ERROR = 3  # convert_runner's exit status for an error meant for the user
INSTALL_HINT = (
    "run `make setup` (it builds llama-cpp-python once and unpacks its converter), or set "
    "TUNELOOP_EXPORT_CONVERTER_DIR to a directory holding convert_hf_to_gguf.py, "
    "conversion/ and gguf-py/ from the llama-cpp-python sdist"
)


@dataclass(frozen=True)
class Converted:
    path: Path
    pre_tokenizer_override: str | None  # set when llama.cpp did not know the tokenizer
    seconds: float


def check_converter(converter_dir: Path) -> None:
    if not (converter_dir / "convert_hf_to_gguf.py").is_file():
        raise ServiceUnavailableError(
            f"llama.cpp's converter is not installed at {converter_dir}: {INSTALL_HINT}",
            code="converter_missing",
        )


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@cache
def supported_architectures(converter_dir: Path) -> frozenset[str]:
    """The Hugging Face architectures (config.json `architectures`) llama.cpp converts."""
    check_converter(converter_dir)
    done = _run([str(converter_dir), "architectures"], timeout_s=120)
    if done.returncode != 0:
        raise InternalError(f"llama.cpp's converter failed to start: {done.stderr[-2000:]}")
    return frozenset(json.loads(done.stdout.strip().splitlines()[-1]))


def model_architecture(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    archs = config.get("architectures") or ["(none given)"]
    return str(archs[0])


def check_architecture(converter_dir: Path, architecture: str) -> None:
    """A clear 400 naming the architecture when llama.cpp cannot convert it; checked before
    any merge so a hopeless export fails in seconds."""
    if architecture not in supported_architectures(converter_dir):
        raise InvalidRequestError(
            f"llama.cpp cannot convert the architecture '{architecture}' to GGUF; it converts "
            "Llama, Qwen2, Mistral, Gemma, Phi and other families, but not this one",
            param="model",
            code="unsupported_architecture",
        )


def _user_error(stderr: str) -> dict[str, str] | None:
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "code" in found:
                return {str(k): str(v) for k, v in found.items()}
    return None


def convert_to_gguf(
    converter_dir: Path,
    model_dir: Path,
    out_file: Path,
    *,
    pre_tokenizer: str | None = None,
    outtype: str = "f16",
    timeout_s: float = 3600,
) -> Converted:
    """Write `out_file` (F16 by default). `pre_tokenizer` is used only when llama.cpp does
    not recognise the tokenizer, and then the override is logged and reported."""
    check_converter(converter_dir)
    check_architecture(converter_dir, model_architecture(model_dir))
    started = time.monotonic()
    args = [str(converter_dir), "convert", pre_tokenizer or "", "--"]
    args += [str(model_dir), "--outfile", str(out_file), "--outtype", outtype]
    done = _run(args, timeout_s)
    if done.returncode == USER_ERROR and (found := _user_error(done.stderr)):
        raise InvalidRequestError(
            found["message"], param="pre_tokenizer", code=found.get("code", "convert_failed")
        )
    if done.returncode != 0 or not out_file.is_file():
        raise InternalError(
            f"convert_hf_to_gguf.py failed (exit {done.returncode}): {done.stderr[-3000:]}",
            code="convert_failed",
        )
    override = None
    for line in done.stderr.splitlines():
        if line.startswith('{"override"'):
            override = str(json.loads(line)["override"])
            log.warning("pre-tokenizer override %r used for %s", override, model_dir)
    return Converted(out_file, override, time.monotonic() - started)
