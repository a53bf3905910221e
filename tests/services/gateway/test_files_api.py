"""`/v1/files` with the official SDK: upload, list with cursors, content, delete, tenant
isolation, size cap, and bad input in the OpenAI envelope."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from support.gateway import Gateway, assert_envelope


@pytest.fixture
async def sdk(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport) as http:
        yield openai.AsyncOpenAI(base_url="http://gw/v1", api_key=gateway.key, http_client=http)


async def test_upload_retrieve_content_delete(
    gateway: Gateway, sdk: openai.AsyncOpenAI, tmp_path: Path
) -> None:
    content = "公文的主旨應簡明扼要。\n".encode() * 100
    path = tmp_path / "公文範例.jsonl"
    path.write_bytes(content)
    created = await sdk.files.create(file=path, purpose="fine-tune")
    assert created.id.startswith("file-") and created.filename == "公文範例.jsonl"
    assert (created.bytes, created.purpose, created.status) == (
        len(content),
        "fine-tune",
        "processed",
    )
    assert (await sdk.files.retrieve(created.id)).bytes == len(content)
    assert (await sdk.files.content(created.id)).content == content
    stored = gateway.state.registry.get_file(
        gateway.state.registry.authenticate(gateway.key).id, created.id
    )
    on_disk = gateway.state.artifacts.path(stored.path)
    assert on_disk.read_bytes() == content

    deleted = await sdk.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    assert not on_disk.exists()
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.files.retrieve(created.id)
    assert caught.value.code == "file_not_found"


async def test_listing_filters_and_cursors(sdk: openai.AsyncOpenAI) -> None:
    ids = []
    for i in range(7):
        purpose = "fine-tune" if i % 2 == 0 else "datagen"
        ids.append(
            (
                await sdk.files.create(
                    file=(f"f{i}.txt", io.BytesIO(b"x" * (i + 1))), purpose=purpose
                )
            ).id
        )
    everything = (await sdk.files.list()).data
    # Newest first; files of the same second in a fixed (id) order, so cursors are stable.
    assert [f.id for f in everything] == [
        f.id for f in sorted(everything, key=lambda f: (f.created_at, f.id), reverse=True)
    ]
    assert {f.id for f in everything} == set(ids)
    assert {f.id for f in (await sdk.files.list(purpose="datagen")).data} == set(ids[1::2])
    walked = [f.id async for f in sdk.files.list(limit=2, order="asc")]  # the SDK follows cursors
    assert walked == [f.id for f in reversed(everything)]
    first = await sdk.files.list(limit=3, order="desc")
    assert first.has_more and [f.id for f in first.data] == [f.id for f in everything[:3]]


async def test_tenants_do_not_see_each_other(gateway: Gateway, sdk: openai.AsyncOpenAI) -> None:
    mine = await sdk.files.create(file=("a.txt", io.BytesIO(b"secret")), purpose="user_data")
    key, _ = gateway.state.registry.create_api_key("globex")
    headers = gateway.auth(key)
    assert (await gateway.http.get("/v1/files", headers=headers)).json()["data"] == []
    for method, path in (
        ("GET", f"/v1/files/{mine.id}"),
        ("GET", f"/v1/files/{mine.id}/content"),
        ("DELETE", f"/v1/files/{mine.id}"),
    ):
        response = await gateway.http.request(method, path, headers=headers)
        assert_envelope(response, 404, "file_not_found")
    assert (await sdk.files.content(mine.id)).content == b"secret"


async def test_size_cap_leaves_nothing_behind(gateway: Gateway) -> None:
    gateway.state.settings.max_upload_mb = 1
    files = {"file": ("big.bin", b"x" * ((1 << 20) + 1))}
    response = await gateway.http.post(
        "/v1/files", files=files, data={"purpose": "fine-tune"}, headers=gateway.auth()
    )
    assert_envelope(response, 413, "payload_too_large")
    leftovers = [p for p in gateway.state.artifacts.root.rglob("*") if p.is_file()]
    assert leftovers == []
    assert (await gateway.http.get("/v1/files", headers=gateway.auth())).json()["data"] == []


@pytest.mark.parametrize(
    ("files", "data", "param"),
    [
        ({"file": ("empty.jsonl", b"")}, {"purpose": "fine-tune"}, "file"),
        ({"file": ("a.jsonl", b"{}")}, {"purpose": "homework"}, "purpose"),
        ({"file": ("a.jsonl", b"{}")}, {}, "purpose"),
        (None, {"purpose": "fine-tune"}, "file"),
    ],
)
async def test_bad_uploads(
    gateway: Gateway, files: dict[str, object] | None, data: dict[str, str], param: str
) -> None:
    response = await gateway.http.post("/v1/files", files=files, data=data, headers=gateway.auth())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert [p for p in gateway.state.artifacts.root.rglob("*") if p.is_file()] == []


async def test_unknown_ids_and_cursors(gateway: Gateway) -> None:
    response = await gateway.http.get("/v1/files/file-nope", headers=gateway.auth())
    assert_envelope(response, 404, "file_not_found")
    response = await gateway.http.get(
        "/v1/files", params={"after": "file-nope"}, headers=gateway.auth()
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "after"
    response = await gateway.http.get("/v1/files", params={"limit": 0}, headers=gateway.auth())
    assert response.status_code == 400 and response.json()["error"]["param"] == "limit"
