"""A real GGUF consumer: llama.cpp's own OpenAI-compatible server (`python -m llama_cpp.server`)
serves an exported SmolLM2 file, and the held-out 公文 questions asked through it with the
unmodified `openai` client score what the export's drift report said the GGUF scores."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from services.trainer.export.metrics import mean, rouge_l
from services.trainer.export.pipeline import run_export
from services.trainer.export.samples import load_samples
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import ExportSpec
from support.smollm2 import NAME, pulled_smollm2
from tests.conftest import free_port

pytestmark = pytest.mark.slow
HELDOUT = Path(__file__).resolve().parents[3] / "samples" / "gongwen" / "heldout.json"
PROMPTS, TOKENS = 8, 32


class LlamaCppServer:
    """`python -m llama_cpp.server` on a free port, serving `gguf` once `start` is called."""

    def __init__(self, root: Path):
        self.gguf = root / "served.gguf"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = root / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf)]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(600):
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text()[-2000:])
            try:
                if httpx.get(f"{self.url}/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("llama_cpp.server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def llama_cpp_server(tmp_path: Path) -> Iterator[LlamaCppServer]:
    server = LlamaCppServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def test_the_drift_the_export_reports_holds_through_llama_cpp_server(
    tmp_path: Path, llama_cpp_server: LlamaCppServer
) -> None:
    spec = ExportSpec(
        model=NAME,
        base_model=NAME,
        base_path=str(pulled_smollm2()),
        adapter_path="",
        quantization="q4_K_M",
        ollama_model="",
        system="",
        prompts=[],
        dataset_path=str(HELDOUT),
        pre_tokenizer="",
        context_length=8192,
    )
    settings = ExportSettings(verify_prompts=PROMPTS, verify_max_tokens=TOKENS)

    async def progress(step: str, message: str) -> None:
        return None

    out = await run_export(spec, settings, tmp_path / "export", progress)
    reported = out.result["drift"]["rouge_l_quantized"]
    llama_cpp_server.gguf.symlink_to(out.gguf)
    llama_cpp_server.start()

    samples = load_samples([], HELDOUT, "", PROMPTS).samples
    client = openai.OpenAI(
        base_url=llama_cpp_server.url, api_key="unused", max_retries=0, timeout=120
    )
    scores = []
    for sample in samples:
        reply = client.chat.completions.create(
            model=str(llama_cpp_server.gguf),
            messages=sample.messages,  # type: ignore[arg-type]
            temperature=0.0,
            max_tokens=TOKENS,
            extra_body={"top_k": 1, "repeat_penalty": 1.0},  # greedy, as the export's check
        )
        answer = (reply.choices[0].message.content or "").strip()
        assert sample.reference is not None
        scores.append(rouge_l(answer, sample.reference))
    assert len(scores) == PROMPTS
    assert reported > 0 and abs(mean(scores) - reported) <= 1.0, (mean(scores), reported)
