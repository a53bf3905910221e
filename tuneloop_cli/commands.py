"""What each `tuneloop` sub-command does; main.py only parses arguments."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psutil
from rich.console import Console
from rich.table import Table

from services.gateway.registry.db import Database
from services.gateway.registry.store import Registry
from tuneloop_cli.probes import probe_all, served_base_models
from tuneloop_cli.supervisor import RunFiles, Supervisor
from tuneloop_core import basemodels
from tuneloop_core.errors import TuneloopError
from tuneloop_core.settings import CommonSettings


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def up(detach: bool, timeout_s: float, out: Console, err: Console) -> int:
    common = CommonSettings()
    files = RunFiles(common.data_dir)
    if (pid := files.running_pid()) is not None:
        raise CliError(f"already running (pid {pid}) for {common.data_dir}; `tuneloop down` first")
    supervisor = Supervisor(common)
    if busy := supervisor.ports_in_use():
        raise CliError(
            f"in use by another program: {', '.join(busy)}. Set TUNELOOP_NATS_URL, "
            "TUNELOOP_GATEWAY_URL or TUNELOOP_<SERVICE>_ADDR to free ports."
        )
    if detach:
        return _up_detached(files, timeout_s, out, err)
    err.print(f"Starting Tuneloop (data in {common.data_dir}, logs in {supervisor.logs_dir})")
    seen: set[str] = set()

    def progress(health: dict[str, bool]) -> None:
        healthy = {name for name, ok in health.items() if ok}
        for name in sorted(healthy - seen):
            err.print(f"  [green]✓[/green] {name} healthy ({len(healthy)}/{len(health)})")
        seen.update(healthy)

    def ready(url: str) -> None:
        out.print(f"Tuneloop is up: {url}  (OpenAI base URL: {url}/v1)", soft_wrap=True)
        err.print("Press Ctrl-C or run `tuneloop down` to stop.")

    return supervisor.run(timeout_s, on_progress=progress, on_ready=ready)


def _up_detached(files: RunFiles, timeout_s: float, out: Console, err: Console) -> int:
    log_path = files.dir.parent / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "tuneloop_cli.main", "up", "--timeout", str(timeout_s)]
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s + 10
    with err.status("Starting Tuneloop in the background…"):
        while time.monotonic() < deadline:
            state = files.read_state()
            if state.get("ready") and state.get("pid") == proc.pid:
                url = state["gateway_url"]
                out.print(
                    f"Tuneloop is up: {url}  (pid {proc.pid}; log {log_path})", soft_wrap=True
                )
                return 0
            if proc.poll() is not None:
                raise CliError(f"tuneloop up exited with {proc.returncode}; see {log_path}")
            time.sleep(0.3)
    proc.terminate()
    raise CliError(f"not healthy after {timeout_s:.0f} s; see {log_path}")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def down(timeout_s: float, err: Console) -> int:
    common = CommonSettings()
    files = RunFiles(common.data_dir)
    pid = files.running_pid()
    if pid is None:
        err.print("Tuneloop is not running.")
        return 0
    children = files.read_state().get("children", {})
    child_pids = [int(p) for p in children.values()] if isinstance(children, dict) else []
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    with err.status("Stopping Tuneloop…"):
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    if not _gone(pid):
        raise CliError(f"supervisor (pid {pid}) still running after {timeout_s:.0f} s")
    leftovers = [p for p in child_pids if not _gone(p)]
    for leftover in leftovers:  # only after a supervisor crash: PDEATHSIG normally did this
        os.kill(leftover, signal.SIGKILL)
    err.print("Tuneloop stopped.")
    return 0


def status(out: Console) -> int:
    common = CommonSettings()
    files = RunFiles(common.data_dir)
    state = files.read_state()
    gateway_url = str(state.get("gateway_url") or common.gateway_url)
    health = asyncio.run(probe_all(common, gateway_url))
    addrs = {"nats": common.nats_url, "gateway-http": gateway_url, **common.service_addrs()}
    table = Table(title=f"Tuneloop ({common.data_dir})")
    for column in ("component", "address", "health"):
        table.add_column(column)
    for name, ok in health.items():
        table.add_row(name, addrs[name], "[green]healthy[/green]" if ok else "[red]down[/red]")
    out.print(table)
    _print_base_models(common, health.get("inference", False), out)
    return 0 if all(health.values()) else 1


def _print_base_models(common: CommonSettings, inference_up: bool, out: Console) -> None:
    """Which base models are served (as the inference service says), or why none is."""
    served = None
    if inference_up:
        served = asyncio.run(served_base_models(common.service_addrs()["inference"]))
    installed = [m.name for m in basemodels.list_models(common.data_dir)]
    if served:
        out.print(f"Base models served: {', '.join(served)}", highlight=False)
    elif served is not None and installed:  # installed after the last rescan, or broken
        out.print(
            f"[yellow]Base models installed but not served yet:[/yellow] {', '.join(installed)} "
            "(the inference service loads them within a minute; see its log if not)"
        )
    elif not installed:
        out.print(f"[yellow]{basemodels.NO_BASE_MODEL}[/yellow]", highlight=False)


def create_key(tenant: str, name: str, out: Console, err: Console) -> int:
    common = CommonSettings()
    db = Database(common.database_url)
    try:
        plaintext, record = Registry(db).create_api_key(tenant, name)
    except TuneloopError as exc:
        raise CliError(exc.message) from exc
    finally:
        db.close()
    out.print(plaintext, highlight=False, soft_wrap=True)
    err.print(f"Created key {record.id} for tenant '{tenant}'. It is shown only this once.")
    return 0
