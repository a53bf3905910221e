"""`tuneloop up --detach` → every component healthy → a key works → `tuneloop down` leaves
no process behind. Runs the real CLI in subprocesses on free ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port

TUNELOOP = [sys.executable, "-m", "tuneloop_cli.main"]


def stack_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TUNELOOP_DATA_DIR"] = str(data_dir)
    env["TUNELOOP_NATS_URL"] = f"nats://127.0.0.1:{free_port()}"
    env["TUNELOOP_GATEWAY_URL"] = f"http://127.0.0.1:{free_port()}"
    for name in ("gateway", "inference", "trainer", "datagen", "evaluator"):
        env[f"TUNELOOP_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    return env


def tuneloop(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TUNELOOP, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def processes_using(data_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line or environment names this data directory."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(data_dir) in cmdline or proc.environ().get("TUNELOOP_DATA_DIR") == str(data_dir):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.slow
def test_up_status_key_down_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = stack_env(data_dir)
    started = tuneloop(env, "up", "--detach", "--timeout", "90")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert env["TUNELOOP_GATEWAY_URL"] in started.stdout

        state = json.loads((data_dir / "run" / "state.json").read_text())
        assert state["ready"] is True
        pids = [state["pid"], *state["children"].values()]
        assert set(state["children"]) == {
            "nats",
            "inference",
            "trainer",
            "datagen",
            "evaluator",
            "gateway",
        }
        assert all(psutil.pid_exists(p) for p in pids)

        status = tuneloop(env, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("healthy") == 7

        again = tuneloop(env, "up", "--detach")
        assert again.returncode == 2 and "already running" in again.stderr

        created = tuneloop(env, "keys", "create", "--tenant", "acme")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        assert key.startswith("tl-") and "\n" not in key
        url = env["TUNELOOP_GATEWAY_URL"]
        models = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200 and models.json()["object"] == "list"
        assert httpx.get(f"{url}/readyz").status_code == 200
    finally:
        stopped = tuneloop(env, "down", "--timeout", "60")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert processes_using(data_dir) == []
    assert not (data_dir / "run" / "supervisor.pid").exists()
    status = tuneloop(env, "status")
    assert status.returncode == 1 and "down" in status.stdout
    supervisor_log = (data_dir / "logs" / "supervisor.log").read_text()
    assert "ignored SIGTERM" not in supervisor_log, "every service must stop on SIGTERM"
    assert "all stopped" in supervisor_log


@pytest.mark.slow
def test_supervisor_restarts_a_dead_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = stack_env(data_dir)
    started = tuneloop(env, "up", "--detach", "--timeout", "90")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        state = json.loads((data_dir / "run" / "state.json").read_text())
        victim = psutil.Process(state["children"]["trainer"])
        victim.kill()
        victim.wait(10)
        for _ in range(100):
            now = json.loads((data_dir / "run" / "state.json").read_text())
            if now["restarts"]["trainer"] == 1 and now["children"]["trainer"] != victim.pid:
                break
            time.sleep(0.2)
        assert now["restarts"]["trainer"] == 1
        for _ in range(100):
            if tuneloop(env, "status").returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("trainer did not come back healthy")
    finally:
        tuneloop(env, "down", "--timeout", "60")
    assert processes_using(data_dir) == []
