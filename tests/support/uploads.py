"""Helpers of the `/v1/files` tests: uploads through plain httpx, hand-written multipart
forms for what httpx would not send, and what the artifact store holds."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.gateway import Gateway

MiB = 1 << 20
BOUNDARY = "tuneloop-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def tenant_id(gateway: Gateway, key: str | None = None) -> str:
    return gateway.state.registry.sync.authenticate(key or gateway.key).id


def stored_files(gateway: Gateway) -> list[Path]:
    return [p for p in gateway.state.artifacts.root.rglob("*") if p.is_file()]


async def upload(
    gateway: Gateway,
    files: dict[str, tuple[str, bytes]] | None,
    data: dict[str, str],
    key: str | None = None,
) -> httpx.Response:
    return await gateway.http.post("/v1/files", files=files, data=data, headers=gateway.auth(key))


def multipart_around_file(filename: str, purpose: str = "fine-tune") -> tuple[bytes, bytes]:
    """A form written by hand (what goes before the file's bytes, and after), for what httpx
    would not send: raw control characters, a body without Content-Length."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode()
