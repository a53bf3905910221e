"""An adapter trained elsewhere exports to GGUF like a Tuneloop one: imported through
/v1/adapters, then POST /v1/exports on its name runs the export worker to a GGUF file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.imported import packed_tiny_adapter
from support.stack import TINY, api_stack

pytestmark = pytest.mark.slow


async def test_an_imported_adapter_exports_to_gguf(tmp_path: Path) -> None:
    async with api_stack(tmp_path, trainer=True) as stack:
        headers = {"Authorization": f"Bearer {stack.key('acme')}"}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60) as client:
            reply = await client.post(
                "/v1/adapters",
                files={"file": ("lora.tar.gz", packed_tiny_adapter(stack))},
                data={"base_model": TINY, "name": "outside-lora"},
            )
            assert reply.status_code == 200, reply.text
            created = await client.post(
                "/v1/exports", json={"model": "outside-lora", "pre_tokenizer": "gpt-2"}
            )
            assert created.status_code == 200, created.text
            export_id = created.json()["id"]
            async with asyncio.timeout(240):
                while True:
                    job: dict[str, Any] = (await client.get(f"/v1/exports/{export_id}")).json()
                    if job["status"] in ("succeeded", "failed", "cancelled"):
                        break
                    await asyncio.sleep(0.5)
            assert job["status"] == "succeeded", job["error"]
            names = {
                (await client.get(f"/v1/files/{f}")).json()["filename"]: f
                for f in job["result"]["result_files"]
            }
            gguf = next(f for name, f in names.items() if name.endswith(".gguf"))
            content = (await client.get(f"/v1/files/{gguf}/content")).content
            assert content[:4] == b"GGUF"
