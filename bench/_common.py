"""Shared by the benchmark scripts: import paths, machine facts, percentiles, a Markdown
table printer, a chat load generator, and servers run as child processes (Tuneloop's
in-process stack via `stack_process.py`, or any command) that always get cleaned up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (ROOT / "tests", ROOT / "gen", ROOT):  # what pytest's `pythonpath` holds
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# vLLM reads these at import (in every process it starts): 1 GiB of KV cache, no lookups.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_HOST_IP": "127.0.0.1", "VLLM_NO_USAGE_STATS": "1"}
for _name, _value in VLLM_ENV.items():
    os.environ.setdefault(_name, _value)

# Distinct prompts so no two requests share more than the chat template's prefix.
TOPICS = ["rivers", "tea", "trains", "bridges", "owls", "maps", "bread", "clocks"]


def prompt(i: int) -> str:
    return f"Write a short paragraph about {TOPICS[i % len(TOPICS)]}, note {i}."


def machine() -> str:
    """nproc, CPU model, date and load average, for the results file."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
        "unknown CPU",
    )
    cores = len(os.sched_getaffinity(0))
    return f"{cores} cores, {model}, {time.strftime('%Y-%m-%d %H:%M %Z')}, load {loadavg()}"


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def show(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A table in Markdown, so it can be pasted into RESULTS.md as printed."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, title=title, box=box.MARKDOWN, title_justify="left")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console(width=200).print(table)


def say(text: str) -> None:
    from rich.console import Console

    Console(width=200, highlight=False).print(text)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChatLoad:
    """One burst of concurrent chat completions."""

    wall_s: float
    completion_tokens: int
    prompt_tokens: int
    texts: list[str]

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s


async def chat_load(
    client: Any, models: Sequence[str], max_tokens: int, *, stream: bool = False
) -> ChatLoad:
    """Request i goes to models[i] with prompt(i), all at once; greedy. With `stream`, the
    reply is read as SSE chunks (usage from `stream_options.include_usage`)."""

    async def one(i: int, model: str) -> tuple[Any, str]:
        request: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": prompt(i)}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        if not stream:
            reply = await client.chat.completions.create(**request)
            return reply.usage, reply.choices[0].message.content or ""
        usage, text = None, []
        chunks = await client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
            usage = chunk.usage or usage
        return usage, "".join(text)

    start = time.perf_counter()
    replies = await asyncio.gather(*(one(i, m) for i, m in enumerate(models)))
    wall_s = time.perf_counter() - start
    return ChatLoad(
        wall_s=wall_s,
        completion_tokens=sum(usage.completion_tokens for usage, _ in replies),
        prompt_tokens=sum(usage.prompt_tokens for usage, _ in replies),
        texts=[text for _, text in replies],
    )


def _spawn(command: list[str], log: Path, stdin: int) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # A session of its own: the whole process tree can be signalled by its group id.
        return subprocess.Popen(
            command, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """Ask politely (stdin EOF, then SIGTERM), then SIGKILL whatever is left in the group."""
    if proc.stdin is not None:
        proc.stdin.close()  # stack_process.py shuts down on EOF
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):  # children that outlived the leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
            time.sleep(2)


@contextlib.asynccontextmanager
async def child_process(
    command: list[str], *, polite_stdin: bool, grace_s: float = 60
) -> AsyncIterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run `command` with its output in a temporary log; stop it (and its children) after."""
    workdir = Path(tempfile.mkdtemp(prefix="tuneloop-bench-"))
    log = workdir / "server.log"
    stdin = subprocess.PIPE if polite_stdin else subprocess.DEVNULL
    proc = _spawn(command, log, stdin)
    failed = True
    try:
        yield proc, workdir
        failed = False
    finally:
        await asyncio.to_thread(_stop, proc, grace_s)
        if failed:
            tail = log.read_text(errors="replace")[-3000:]
            say(f"[red]server log tail ({log}):[/red]\n{tail}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def wait_until(check: Any, proc: subprocess.Popen[bytes], timeout_s: float) -> Any:
    """Poll `check()` (sync or async) until it returns non-None; fail if `proc` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} while starting")
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result is not None:
            return result
        await asyncio.sleep(0.5)
    raise TimeoutError(f"server not ready after {timeout_s:.0f} s")


@dataclass
class Stack:
    url: str  # gateway, http://127.0.0.1:<port>
    grpc_addr: str  # inference service, 127.0.0.1:<port>
    key: str  # API key of tenant "bench"
    tenant_id: str
    model: str  # the base model's served name
    common: dict[str, Any]  # the stack's CommonSettings, for a second gateway
    pid: int  # of the process running nats-server's client, inference and the gateway
    start_s: float  # seconds from spawn to ready (adapters loaded)


@contextlib.asynccontextmanager
async def _stack_process(config: dict[str, Any], timeout_s: float) -> AsyncIterator[dict[str, Any]]:
    command = [sys.executable, str(BENCH / "stack_process.py")]
    async with child_process(command, polite_stdin=True) as (proc, workdir):
        ready = workdir / "ready.json"
        assert proc.stdin is not None
        proc.stdin.write((json.dumps({**config, "workdir": str(workdir)}) + "\n").encode())
        proc.stdin.flush()

        def read_ready() -> dict[str, Any] | None:
            return json.loads(ready.read_text()) if ready.is_file() else None

        info = await wait_until(read_ready, proc, timeout_s)
        yield {**info, "pid": proc.pid}


@contextlib.asynccontextmanager
async def tuneloop_stack(
    base_dir: Path, adapters: dict[str, Path], timeout_s: float = 600, **settings: object
) -> AsyncIterator[Stack]:
    """nats-server, inference (serving only `base_dir`, with `adapters` loaded for tenant
    "bench") and the gateway, in one child process (see stack_process.py). Paths absolute."""
    config = {
        "base_dir": str(base_dir),
        "adapters": {name: str(path) for name, path in adapters.items()},
        "settings": settings,
    }
    start = time.perf_counter()
    async with _stack_process(config, timeout_s) as info:
        yield Stack(**info, start_s=time.perf_counter() - start)


@contextlib.asynccontextmanager
async def gateway_process(stack: Stack) -> AsyncIterator[tuple[str, int]]:
    """One more gateway on `stack`, in a process of its own (as deployed); its URL and pid."""
    async with _stack_process({"mode": "gateway", "common": stack.common}, 120) as info:
        yield str(info["url"]), int(info["pid"])


def base_model(kind: str, tmp: Path) -> Path:
    """ "tiny": the test suite's tiny Llama (built in `tmp`, ~1 s); "smollm2": SmolLM2-135M-
    Instruct converted once into `<repo>/.cache/models/`."""
    if kind == "tiny":
        from transformers.utils import logging as hf_logging

        from support.tiny_model import build_tiny_model

        hf_logging.disable_progress_bar()

        return build_tiny_model(tmp / "tiny")
    from support.smollm2 import pulled_smollm2

    return pulled_smollm2().resolve()


def build_adapters(base: Path, tmp: Path, count: int, rank: int) -> dict[str, Path]:
    """`count` random LoRA adapters on every linear layer, named a0, a1, ..."""
    from transformers.utils import logging as hf_logging

    from support.tiny_model import build_tiny_adapter

    hf_logging.disable_progress_bar()  # one bar per load and save otherwise
    return {
        f"a{i}": build_tiny_adapter(base, tmp / f"a{i}", seed=i + 1, rank=rank)
        for i in range(count)
    }
