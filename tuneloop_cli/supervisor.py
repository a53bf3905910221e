"""`tuneloop up`: the whole stack on one machine as child processes.

Starts nats-server (JetStream, store under the data directory) and the five services,
waits until every one is healthy, prints the gateway URL, restarts a child that dies (with
back-off), and on SIGTERM/SIGINT stops the services in reverse order, then NATS. Children
get PR_SET_PDEATHSIG, so even a SIGKILLed supervisor leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tuneloop_cli.natsd import nats_server_argv
from tuneloop_cli.probes import host_port, port_open, probe_all
from tuneloop_core.settings import CommonSettings

log = logging.getLogger(__name__)

# Start order: NATS first, the gateway last (its /readyz wants everyone else).
SERVICE_ORDER = ("inference", "trainer", "datagen", "evaluator", "gateway")
STOP_TIMEOUT_S = 20.0
MAX_BACKOFF_S = 30.0

# Called with the health of every component while waiting for the stack to come up.
ProgressFn = Callable[[dict[str, bool]], None]


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0  # monotonic time before which a restart waits (back-off)
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only: ordered stop
                preexec_fn=_die_with_parent,
            )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM for %.0f s; killing it", self.name, timeout_s)
            self.proc.kill()
            self.proc.wait()


class RunFiles:
    """The supervisor's pid and state files under `<data_dir>/run/`."""

    def __init__(self, data_dir: Path):
        self.dir = data_dir / "run"
        self.pid = self.dir / "supervisor.pid"
        self.state = self.dir / "state.json"

    def running_pid(self) -> int | None:
        """Pid of a live supervisor for this data directory, if any."""
        try:
            pid = int(self.pid.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        except PermissionError:
            return pid
        return pid

    def read_state(self) -> dict[str, object]:
        try:
            state: dict[str, object] = json.loads(self.state.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return state

    def write_state(self, state: dict[str, object]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state)

    def clear(self) -> None:
        self.pid.unlink(missing_ok=True)
        self.state.unlink(missing_ok=True)


def child_env(common: CommonSettings) -> dict[str, str]:
    """Environment of every child: the shared settings made explicit, each service's gRPC
    port taken from the address the others will dial, Prometheus metrics on."""
    env = dict(os.environ)
    env["TUNELOOP_DATA_DIR"] = str(common.data_dir)
    env["TUNELOOP_NATS_URL"] = common.nats_url
    env["TUNELOOP_DATABASE_URL"] = common.database_url
    for name, addr in common.service_addrs().items():
        env[f"TUNELOOP_{name.upper()}_ADDR"] = addr
        env.setdefault(f"TUNELOOP_{name.upper()}_GRPC_PORT", str(host_port(addr)[1]))
        if name != "gateway":  # which serves /metrics on its HTTP port
            env.setdefault(f"TUNELOOP_{name.upper()}_METRICS_PORT", "0")  # any free one
    env["TUNELOOP_GATEWAY_URL"] = common.gateway_url
    http_host, http_port = host_port(common.gateway_url)
    env["TUNELOOP_GATEWAY_HOST"] = http_host
    env["TUNELOOP_GATEWAY_PORT"] = str(http_port)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def plan_children(common: CommonSettings) -> list[Child]:
    logs = common.data_dir / "logs"
    nats_host, nats_port = host_port(common.nats_url)
    env = child_env(common)
    children = [
        Child(
            "nats",
            nats_server_argv(nats_host, nats_port, common.data_dir / "nats"),
            env,
            logs / "nats.log",
        )
    ]
    for name in SERVICE_ORDER:
        argv = [sys.executable, "-m", f"services.{name}"]
        children.append(Child(name, argv, env, logs / f"{name}.log"))
    return children


class Supervisor:
    def __init__(self, common: CommonSettings):
        self.common = common
        self.gateway_url = common.gateway_url.rstrip("/")
        self.children = plan_children(common)
        self.files = RunFiles(common.data_dir)
        self._stopping = False

    def ports_in_use(self) -> list[str]:
        """Addresses another process already listens on (checked before starting)."""
        addrs = [self.common.nats_url, *self.common.service_addrs().values()]
        addrs.append(self.gateway_url)
        return [a for a in addrs if port_open(a, timeout_s=0.2)]

    def _request_stop(self, signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        self._stopping = True

    def _write_state(self, ready: bool) -> None:
        self.files.write_state(
            {
                "pid": os.getpid(),
                "ready": ready,
                "gateway_url": self.gateway_url,
                "children": {c.name: c.proc.pid for c in self.children if c.proc},
                "restarts": {c.name: c.restarts for c in self.children},
            }
        )

    def wait_healthy(self, timeout_s: float, on_progress: ProgressFn | None = None) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self._stopping:
            health = asyncio.run(probe_all(self.common, self.gateway_url, timeout_s=1.0))
            if on_progress is not None:
                on_progress(health)
            if all(health.values()):
                return True
            self._restart_dead()
            time.sleep(0.5)
        return False

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.alive() or self._stopping:
                continue
            if child.proc is not None and child.next_start == 0.0:
                code = child.proc.returncode
                delay = min(MAX_BACKOFF_S, 2.0**child.restarts)
                if now - child.started_at > 60:  # it had run a while: not a crash loop
                    delay = 1.0
                log.warning("%s exited with %s; restarting in %.0f s", child.name, code, delay)
                child.next_start = now + delay
            if now >= child.next_start:
                child.restarts += 1 if child.proc is not None else 0
                child.next_start = 0.0
                child.start()
                self._write_state(ready=False)

    def run(
        self,
        ready_timeout_s: float,
        on_progress: ProgressFn | None = None,
        on_ready: Callable[[str], None] | None = None,
    ) -> int:
        """Start, wait healthy, supervise until a signal; returns the exit code."""
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self.files.dir.mkdir(parents=True, exist_ok=True)
        self.files.pid.write_text(str(os.getpid()))
        try:
            for child in self.children:
                child.start()
                if child.name == "nats":
                    self._wait_port(self.common.nats_url, 15.0)
            self._write_state(ready=False)
            if not self.wait_healthy(ready_timeout_s, on_progress):
                if not self._stopping:
                    log.error("not healthy after %.0f s; see %s", ready_timeout_s, self.logs_dir)
                    return 1
                return 0
            self._write_state(ready=True)
            log.info("Tuneloop is up at %s", self.gateway_url)
            if on_ready is not None:
                on_ready(self.gateway_url)
            while not self._stopping:
                self._restart_dead()
                time.sleep(0.5)
            return 0
        finally:
            self.stop_all()

    @property
    def logs_dir(self) -> Path:
        return self.common.data_dir / "logs"

    def _wait_port(self, addr: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not port_open(addr, 0.2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listening on {addr} after {timeout_s:.0f} s")
            time.sleep(0.05)

    def stop_all(self) -> None:
        self._stopping = True
        for child in reversed(self.children):
            child.stop()
        self.files.clear()
        log.info("all stopped")
