"""An imported adapter survives an inference restart (the replica replays the ADAPTERS
stream), and a deleted one stays gone after the next."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from support.imported import packed_tiny_adapter
from support.stack import TINY, ApiStack, api_stack

pytestmark = pytest.mark.slow


async def served(client: httpx.AsyncClient, name: str, timeout_s: float = 30) -> bool:
    """Whether `name` is listed within `timeout_s` (False at once if the service is down)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        reply = await client.get("/v1/models")
        if reply.status_code == 200 and name in {m["id"] for m in reply.json()["data"]}:
            return True
        await asyncio.sleep(0.2)
    return False


async def restart_inference(stack: ApiStack) -> None:
    await stack.inference_stack.aclose()
    await stack.restart_inference()


async def test_an_import_is_served_again_after_a_restart_and_a_deletion_is_not(
    tmp_path: Path,
) -> None:
    async with api_stack(tmp_path, fixed_ports=True) as stack:
        headers = {"Authorization": f"Bearer {stack.key('acme')}"}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60) as client:
            reply = await client.post(
                "/v1/adapters",
                files={"file": ("lora.tar.gz", packed_tiny_adapter(stack))},
                data={"base_model": TINY, "name": "outside-lora"},
            )
            assert reply.status_code == 200, reply.text

            await restart_inference(stack)
            assert await served(client, "outside-lora")
            chat = await client.post(
                "/v1/chat/completions",
                json={"model": "outside-lora", "messages": [{"role": "user", "content": "hi"}],
                      "max_tokens": 4},
            )  # fmt: skip
            assert chat.status_code == 200, chat.text

            assert (await client.delete("/v1/adapters/outside-lora")).status_code == 200
            await restart_inference(stack)
            assert await served(client, TINY)  # the restarted service answers…
            assert not await served(client, "outside-lora", timeout_s=3)  # …without it
