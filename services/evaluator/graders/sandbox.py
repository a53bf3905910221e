"""The `python` grader's sandbox: the user's `grade(sample, item)` runs in a child process
(`sandbox_runner.py`) with limits on CPU time, memory, file size and wall-clock time, no
network, no commands and no writes outside a fresh temporary directory.

A misbehaving grader becomes a `PythonOutcome` with a user-facing `error`; the worker that
called `run_python` carries on. See `sandbox_runner.py` for what the child enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("sandbox_runner.py")
FILE_MB = 16  # largest file a grader may write in its working directory
STDERR_TAIL_BYTES = 4096  # of the grader's prints, kept for the log when it fails
_READ_CHUNK = 65536


@dataclass(frozen=True)
class SandboxLimits:
    """What one grader run may use."""

    cpu_s: float = 2  # CPU seconds (rounded up to whole seconds by the kernel limit)
    memory_mb: int = 512  # address space, MiB
    wall_s: float = 5  # wall-clock seconds, start-up included
    output_kb: int = 64  # of the result the child writes back


@dataclass(frozen=True)
class PythonOutcome:
    """A score, or the reason there is none."""

    score: float | None
    error: str | None
    duration_ms: float


DEFAULT_LIMITS = SandboxLimits()


async def run_python(
    source: str,
    sample: dict[str, Any],
    item: dict[str, Any],
    limits: SandboxLimits = DEFAULT_LIMITS,
) -> PythonOutcome:
    """Run `grade(sample, item)` from `source` in a fresh sandboxed process."""
    started = time.perf_counter()
    request = {
        "source": source,
        "sample": sample,
        "item": item,
        "cpu_s": limits.cpu_s,
        "memory_mb": limits.memory_mb,
        "file_mb": FILE_MB,
    }
    workdir = tempfile.TemporaryDirectory(prefix="tuneloop-grader-", ignore_cleanup_errors=True)
    try:
        result = await _run_child(json.dumps(request).encode(), workdir.name, limits)
    finally:
        # Off the event loop: a grader may have left thousands of files.
        await asyncio.to_thread(workdir.cleanup)
    duration_ms = (time.perf_counter() - started) * 1000
    if "score" in result:
        return PythonOutcome(score=result["score"], error=None, duration_ms=duration_ms)
    return PythonOutcome(score=None, error=result["error"], duration_ms=duration_ms)


async def _run_child(payload: bytes, workdir: str, limits: SandboxLimits) -> dict[str, Any]:
    env = {
        "PATH": os.defpath,
        "HOME": workdir,
        "TMPDIR": workdir,  # tempfile then writes where the grader may
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # One thread per numeric library: each thread's stack and buffers count against
        # the address-space limit (OpenBLAS would start one per core).
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",  # no PYTHON* variables, no user site, no script directory on sys.path
        "-B",  # no .pyc writes (they would be writes outside the working directory)
        "-X",
        "utf8",
        str(RUNNER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=workdir,
        env=env,
        start_new_session=True,  # its own process group, killed as one
    )
    try:
        return await asyncio.wait_for(_exchange(process, payload, limits), timeout=limits.wall_s)
    except TimeoutError:
        return {"error": f"the grader took more than {limits.wall_s:g} s (wall clock)"}
    except _OutputTooLarge:
        return {"error": f"the grader's result is larger than {limits.output_kb} KiB"}
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


class _OutputTooLarge(Exception):
    pass


async def _exchange(
    process: asyncio.subprocess.Process, payload: bytes, limits: SandboxLimits
) -> dict[str, Any]:
    assert process.stdin and process.stdout and process.stderr
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(payload)
        await process.stdin.drain()
    process.stdin.close()
    stdout, stderr = await asyncio.gather(
        _read_capped(process.stdout, limits.output_kb * 1024),
        _read_tail(process.stderr, STDERR_TAIL_BYTES),
    )
    returncode = await process.wait()
    result = _parse_result(stdout)
    if result is not None:
        return result
    log.info(
        "python grader exited with %s and no result; stderr ends: %s",
        returncode,
        stderr.decode("utf-8", "replace")[-1000:],
    )
    return {"error": _exit_message(returncode, limits)}


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _OutputTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    """Everything is read (so the child never blocks on a full pipe); the end is kept."""
    tail = b""
    while chunk := await stream.read(_READ_CHUNK):
        tail = (tail + chunk)[-keep:]
    return tail


def _parse_result(stdout: bytes) -> dict[str, Any] | None:
    try:
        result = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(result, dict):
        return None
    score = result.get("score")
    if isinstance(score, float) and not isinstance(score, bool):
        return {"score": score}
    if isinstance(result.get("error"), str):
        return {"error": result["error"]}
    return None


def _exit_message(returncode: int, limits: SandboxLimits) -> str:
    # SIGXCPU at the CPU soft limit, SIGKILL at the hard limit (we kill only on timeout,
    # which is reported before this).
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"the grader used more than {limits.cpu_s:g} s of CPU time"
    if returncode < 0:
        return f"the grader crashed ({signal.Signals(-returncode).name})"
    return f"the grader exited with status {returncode} without returning a score"
