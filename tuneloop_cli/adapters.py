"""`tuneloop models add-adapter NAME PATH --base BASE`: a LoRA adapter trained elsewhere,
uploaded through the API (POST /v1/adapters) with the caller's key, served under NAME."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from rich.console import Console

from tuneloop_cli.api import Api, ApiError
from tuneloop_cli.commands import CliError

ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")


def archive_bytes(path: Path) -> tuple[str, bytes]:
    """(filename, bytes): an archive as it is, a folder packed as a .tar.gz."""
    if path.is_dir():
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(path, arcname=path.name)
        return f"{path.name}.tar.gz", buffer.getvalue()
    if path.is_file() and path.name.lower().endswith(ARCHIVES):
        return path.name, path.read_bytes()
    raise CliError(f"{path} is neither a PEFT adapter folder nor a .tar.gz/.tgz/.zip of one")


def add_adapter(
    name: str, path: Path, base: str, url: str, key: str | None, out: Console, err: Console
) -> int:
    if not key:
        raise CliError("an API key is needed: --key or TUNELOOP_API_KEY (`tuneloop keys create`)")
    filename, data = archive_bytes(path)
    api = Api(url, key)
    try:
        response = api.http.post(
            "/v1/adapters",
            data={"name": name, "base_model": base},
            files={"file": (filename, data)},
        )
        adapter = api._check(response)
    except ApiError as exc:
        raise CliError(str(exc)) from exc
    finally:
        api.close()
    err.print(
        f"Imported {adapter['id']} (rank {adapter['rank']}, on {adapter['base_model']}); "
        f"chat with model='{adapter['id']}'"
    )
    out.print(adapter["id"], soft_wrap=True, highlight=False)
    return 0
