"""`/v1/files` through the official `openai` SDK, and malformed requests through plain httpx:
uploads, keyset cursors, content, delete, tenant isolation, the size cap and bad input, every
failure in the OpenAI error envelope."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import openai
import pytest

from services.gateway.files.service import MAX_FILENAME_CHARS
from support.gateway import Gateway, assert_envelope
from tuneloop_core.registry.models import File

MiB = 1 << 20


@pytest.fixture
async def sdk(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport) as http:
        yield openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key=gateway.key, http_client=http, max_retries=0
        )


def tenant_id(gateway: Gateway, key: str | None = None) -> str:
    return gateway.state.registry.authenticate(key or gateway.key).id


def stored_files(gateway: Gateway) -> list[Path]:
    return [p for p in gateway.state.artifacts.root.rglob("*") if p.is_file()]


async def upload(
    gateway: Gateway,
    files: dict[str, tuple[str, bytes]] | None,
    data: dict[str, str],
    key: str | None = None,
) -> httpx.Response:
    return await gateway.http.post("/v1/files", files=files, data=data, headers=gateway.auth(key))


BOUNDARY = "tuneloop-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


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


def set_created_at(gateway: Gateway, stamps: dict[str, int]) -> None:
    with gateway.state.registry.db.session() as s:
        for file_id, created_at in stamps.items():
            row = s.get(File, file_id)
            assert row is not None
            row.created_at = created_at


# --- upload, retrieve, content, delete ----------------------------------------------------


async def test_upload_returns_the_openai_file_object(gateway: Gateway) -> None:
    response = await upload(gateway, {"file": ("train.jsonl", b'{"a": 1}\n')}, {"purpose": "evals"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "object",
        "bytes",
        "created_at",
        "filename",
        "purpose",
        "status",
        "expires_at",
        "status_details",
    }
    assert body["id"].startswith("file-") and isinstance(body["created_at"], int)
    assert body | {"id": "", "created_at": 0} == {
        "id": "",
        "object": "file",
        "bytes": 9,
        "created_at": 0,
        "filename": "train.jsonl",
        "purpose": "evals",
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


async def test_upload_from_a_path_with_a_chinese_name(
    gateway: Gateway, sdk: openai.AsyncOpenAI, tmp_path: Path
) -> None:
    content = (
        '{"messages": [{"role": "user", "content": "公文的主旨應簡明扼要。"}]}\n'.encode() * 50
    )
    path = tmp_path / "公文範例.jsonl"
    path.write_bytes(content)

    created = await sdk.files.create(file=path, purpose="fine-tune")

    assert (created.filename, created.bytes, created.purpose, created.status) == (
        "公文範例.jsonl",
        len(content),
        "fine-tune",
        "processed",
    )
    row = gateway.state.registry.get_file(tenant_id(gateway), created.id)
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    assert row.path == f"files/{tenant_id(gateway)}/{created.id}"
    assert gateway.state.artifacts.path(row.path).read_bytes() == content
    assert (await sdk.files.retrieve(created.id)).model_dump() == created.model_dump()


async def test_every_upload_purpose_is_accepted(sdk: openai.AsyncOpenAI) -> None:
    purposes = ["fine-tune", "assistants", "user_data", "evals", "datagen", "knowledge"]
    for purpose in purposes:
        created = await sdk.files.create(file=("doc.txt", b"text"), purpose=purpose)
        assert created.purpose == purpose
    assert sorted(f.purpose for f in (await sdk.files.list()).data) == sorted(purposes)


async def test_content_round_trips_byte_for_byte(gateway: Gateway, sdk: openai.AsyncOpenAI) -> None:
    content = bytes(range(256)) + os.urandom(300_000)  # every byte value, several read chunks
    created = await sdk.files.create(file=("權重 v1.bin", content), purpose="user_data")

    assert (await sdk.files.content(created.id)).content == content
    response = await gateway.http.get(f"/v1/files/{created.id}/content", headers=gateway.auth())
    assert response.content == content
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"__ v1.bin\"; filename*=UTF-8''{quote('權重 v1.bin', safe='')}"
    )


async def test_content_type_follows_the_extension(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    for filename, content_type in (
        ("a.jsonl", "application/jsonl"),
        ("a.json", "application/json"),
        ("說明.txt", "text/plain"),
        ("no-extension", "application/octet-stream"),
    ):
        created = await sdk.files.create(file=(filename, b"{}\n"), purpose="datagen")
        url = f"/v1/files/{created.id}/content"
        response = await gateway.http.get(url, headers=gateway.auth())
        assert response.headers["content-type"].split(";")[0] == content_type, filename


async def test_client_side_directories_and_control_characters_leave_the_name(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    # httpx percent-encodes control characters in a filename; other clients send them raw.
    head, tail = multipart_around_file("../../etc/pass\t\x07wd.txt")
    response = await gateway.http.post(
        "/v1/files", content=head + b"x" + tail, headers=gateway.auth() | MULTIPART
    )
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "passwd.txt"
    created = await sdk.files.create(file=("C:\\Users\\me\\報告.md", b"x"), purpose="knowledge")
    assert created.filename == "報告.md"


async def test_nul_bytes_and_very_long_names_are_cleaned(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    head, tail = multipart_around_file("a\x00b/..\x00/re\x00port.jsonl")
    response = await gateway.http.post(
        "/v1/files", content=head + b"x" + tail, headers=gateway.auth() | MULTIPART
    )
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "report.jsonl"
    long = "長" * 1000 + ".jsonl"
    created = await sdk.files.create(file=(long, b"x"), purpose="fine-tune")
    assert created.filename == long[:MAX_FILENAME_CHARS]
    # Stored and listed under that name; the bytes live under the id, not the name.
    assert (await sdk.files.retrieve(created.id)).filename == long[:MAX_FILENAME_CHARS]
    stored = stored_files(gateway)
    assert len(stored) == 2
    # A form part header of ~15 kB (a 5,000-character name) is refused as malformed.
    refused = await upload(gateway, {"file": ("長" * 5000, b"x")}, {"purpose": "fine-tune"})
    assert_envelope(refused, 400, "invalid_request")
    assert len(stored_files(gateway)) == 2
    assert not any("長" in str(path) or "report" in str(path) for path in stored)


async def test_delete_removes_row_and_bytes(gateway: Gateway, sdk: openai.AsyncOpenAI) -> None:
    kept = await sdk.files.create(file=("keep.txt", b"keep"), purpose="user_data")
    gone = await sdk.files.create(file=("gone.txt", b"gone"), purpose="user_data")
    on_disk = gateway.state.artifacts.path(f"files/{tenant_id(gateway)}/{gone.id}")
    assert on_disk.is_file()

    deleted = await sdk.files.delete(gone.id)

    assert (deleted.id, deleted.object, deleted.deleted) == (gone.id, "file", True)
    assert not on_disk.exists()
    assert [f.id for f in (await sdk.files.list()).data] == [kept.id]
    for method, path in (
        ("GET", f"/v1/files/{gone.id}"),
        ("GET", f"/v1/files/{gone.id}/content"),
        ("DELETE", f"/v1/files/{gone.id}"),
    ):
        response = await gateway.http.request(method, path, headers=gateway.auth())
        assert assert_envelope(response, 404, "file_not_found")["param"] == "file_id"
    assert (await sdk.files.content(kept.id)).content == b"keep"


# --- listing ------------------------------------------------------------------------------


async def test_list_filters_by_purpose_and_orders(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    ids = [
        (await sdk.files.create(file=(f"f{i}.txt", b"x"), purpose=purpose)).id
        for i, purpose in enumerate(["fine-tune", "datagen", "fine-tune", "knowledge"])
    ]
    set_created_at(gateway, {file_id: 1000 + i for i, file_id in enumerate(ids)})

    newest_first = await sdk.files.list()
    assert [f.id for f in newest_first.data] == ids[::-1]
    assert (newest_first.first_id, newest_first.last_id, newest_first.has_more) == (
        ids[3],
        ids[0],
        False,
    )
    assert [f.id for f in (await sdk.files.list(order="asc")).data] == ids
    assert [f.id for f in (await sdk.files.list(purpose="fine-tune")).data] == [ids[2], ids[0]]
    assert (await sdk.files.list(purpose="batch")).data == []


async def test_cursor_pages_cover_everything_once_with_tied_timestamps(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    ids = [
        (await sdk.files.create(file=(f"f{i}.txt", b"x" * (i + 1)), purpose="fine-tune")).id
        for i in range(7)
    ]
    stamps = dict(zip(ids, [100, 100, 100, 200, 200, 300, 300], strict=True))
    set_created_at(gateway, stamps)
    ascending = sorted(ids, key=lambda i: (stamps[i], i))

    for order, expected in (("asc", ascending), ("desc", ascending[::-1])):
        walked: list[str] = []
        more: list[bool] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 3, "order": order}
            if after:
                params["after"] = after
            response = await gateway.http.get("/v1/files", params=params, headers=gateway.auth())
            page = response.json()
            page_ids = [f["id"] for f in page["data"]]
            assert (page["object"], page["first_id"], page["last_id"]) == (
                "list",
                page_ids[0],
                page_ids[-1],
            )
            walked += page_ids
            more.append(page["has_more"])
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert walked == expected
        assert more == [True, True, False]

    # The SDK follows the cursors by itself.
    assert [f.id async for f in sdk.files.list(limit=2, order="asc")] == ascending


async def test_a_cursor_neither_skips_nor_repeats_when_files_come_and_go(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    ids = [
        (await sdk.files.create(file=(f"f{i}.txt", b"x"), purpose="fine-tune")).id for i in range(7)
    ]
    set_created_at(gateway, {file_id: 100 + i for i, file_id in enumerate(ids)})
    first = await sdk.files.list(limit=3)  # newest first: ids[6], ids[5], ids[4]
    assert [f.id for f in first.data] == ids[:3:-1]

    await sdk.files.create(file=("newer.txt", b"x"), purpose="fine-tune")  # ahead of the cursor
    await sdk.files.delete(ids[3])  # behind it, not yet seen

    rest = await sdk.files.list(limit=3, after=first.data[-1].id)
    assert [f.id for f in rest.data] == [ids[2], ids[1], ids[0]] and not rest.has_more


# --- tenants ------------------------------------------------------------------------------


async def test_another_tenant_sees_nothing_and_touches_nothing(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    mine = await sdk.files.create(file=("secret.txt", b"secret"), purpose="user_data")
    other_key, _ = gateway.state.registry.create_api_key("globex")
    theirs = await upload(gateway, {"file": ("t.txt", b"theirs")}, {"purpose": "evals"}, other_key)
    assert theirs.status_code == 200, theirs.text

    listed = await gateway.http.get("/v1/files", headers=gateway.auth(other_key))
    assert [f["id"] for f in listed.json()["data"]] == [theirs.json()["id"]]
    missing = await gateway.http.get("/v1/files/file-doesnotexist", headers=gateway.auth())
    for method, path in (
        ("GET", f"/v1/files/{mine.id}"),
        ("GET", f"/v1/files/{mine.id}/content"),
        ("DELETE", f"/v1/files/{mine.id}"),
    ):
        response = await gateway.http.request(method, path, headers=gateway.auth(other_key))
        error = assert_envelope(response, 404, "file_not_found")
        # Exactly what a missing id gets, so ids cannot be probed across tenants.
        assert error == missing.json()["error"] | {"message": f"No such File object: {mine.id}"}
    foreign_cursor = await gateway.http.get(
        "/v1/files", params={"after": mine.id}, headers=gateway.auth(other_key)
    )
    assert assert_envelope(foreign_cursor, 400, "invalid_request")["param"] == "after"

    assert (await sdk.files.content(mine.id)).content == b"secret"
    assert [f.id for f in (await sdk.files.list()).data] == [mine.id]


# --- limits and bad input -----------------------------------------------------------------


async def test_size_cap_is_inclusive_and_leaves_nothing_behind(
    gateway: Gateway, sdk: openai.AsyncOpenAI
) -> None:
    gateway.state.settings.max_upload_mb = 1

    with pytest.raises(openai.APIStatusError) as caught:
        await sdk.files.create(file=("big.bin", b"x" * (MiB + 1)), purpose="fine-tune")
    assert caught.value.status_code == 413
    far_too_big = await upload(
        gateway, {"file": ("huge.bin", b"x" * 3 * MiB)}, {"purpose": "evals"}
    )
    error = assert_envelope(far_too_big, 413, "payload_too_large")
    assert (error["type"], error["param"]) == ("invalid_request_error", "file")
    assert "1 MiB" in str(error["message"])
    assert stored_files(gateway) == []
    assert (await sdk.files.list()).data == []

    at_limit = await sdk.files.create(file=("fits.bin", b"x" * MiB), purpose="fine-tune")
    assert at_limit.bytes == MiB
    assert len(stored_files(gateway)) == 1


async def test_size_cap_holds_without_a_content_length(gateway: Gateway) -> None:
    gateway.state.settings.max_upload_mb = 1
    head, tail = multipart_around_file("big.bin")
    sent = 0

    async def chunked_body() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        nonlocal sent
        yield head
        for _ in range(4):
            sent += MiB
            yield b"x" * MiB
        yield tail

    response = await gateway.http.post(
        "/v1/files",
        content=chunked_body(),
        headers=gateway.auth() | MULTIPART,
    )
    assert_envelope(response, 413, "payload_too_large")
    assert sent == 4 * MiB  # the rest of the body was read and dropped, not left unread
    assert stored_files(gateway) == []
    assert gateway.state.registry.list_files(tenant_id(gateway)) == []


async def test_upload_without_a_valid_key_is_refused_before_the_body(gateway: Gateway) -> None:
    response = await upload(
        gateway, {"file": ("a.txt", b"x")}, {"purpose": "fine-tune"}, key="tl-not-a-key"
    )
    assert_envelope(response, 401, "invalid_api_key")
    assert stored_files(gateway) == []


async def test_bad_uploads(gateway: Gateway) -> None:
    one = {"file": ("a.jsonl", b"{}")}
    cases: list[tuple[dict[str, tuple[str, bytes]] | None, dict[str, str], str, str]] = [
        ({"file": ("empty.jsonl", b"")}, {"purpose": "fine-tune"}, "file", "empty_file"),
        (one, {"purpose": "homework"}, "purpose", "invalid_request"),
        (one, {"purpose": "batch"}, "purpose", "invalid_request"),
        (one, {"purpose": "fine-tune-results"}, "purpose", "invalid_request"),
        (one, {"purpose": ""}, "purpose", "invalid_request"),
        (one, {}, "purpose", "invalid_request"),
        (None, {"purpose": "fine-tune"}, "file", "invalid_request"),
        (None, {"purpose": "fine-tune", "file": "not a file part"}, "file", "invalid_request"),
        ({"file": ("", b"{}")}, {"purpose": "fine-tune"}, "file", "invalid_request"),
    ]
    for files, data, param, code in cases:
        response = await upload(gateway, files, data)
        assert assert_envelope(response, 400, code)["param"] == param, (files, data)
    assert stored_files(gateway) == []
    assert gateway.state.registry.list_files(tenant_id(gateway)) == []


async def test_uploads_that_are_not_one_file_form(gateway: Gateway) -> None:
    as_json = await gateway.http.post(
        "/v1/files", json={"file": "x", "purpose": "fine-tune"}, headers=gateway.auth()
    )
    assert assert_envelope(as_json, 400, "invalid_request")["param"] == "file"
    two_files = await gateway.http.post(
        "/v1/files",
        files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))],
        data={"purpose": "fine-tune"},
        headers=gateway.auth(),
    )
    assert_envelope(two_files, 400, "invalid_request")
    garbled = await gateway.http.post(
        "/v1/files",
        content=b"--x\r\nnot a multipart body",
        headers=gateway.auth() | {"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert_envelope(garbled, 400, "invalid_request")
    huge_field = await upload(gateway, {"file": ("a.txt", b"a")}, {"purpose": "p" * 100_000})
    assert_envelope(huge_field, 400, "invalid_request")
    assert stored_files(gateway) == []


async def test_unknown_or_malformed_ids_are_not_found(gateway: Gateway) -> None:
    for file_id in ("file-nope", "nope", "%00", "%E6%AA%94%E6%A1%88", "file-" + "x" * 500):
        for method, path in (
            ("GET", f"/v1/files/{file_id}"),
            ("GET", f"/v1/files/{file_id}/content"),
            ("DELETE", f"/v1/files/{file_id}"),
        ):
            response = await gateway.http.request(method, path, headers=gateway.auth())
            error = assert_envelope(response, 404, "file_not_found")
            assert error["param"] == "file_id", path


async def test_bad_list_parameters(gateway: Gateway) -> None:
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"after": "file-nope"}, "after"),
        ({"after": "file-\x00"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
    ]
    for params, param in cases:
        response = await gateway.http.get("/v1/files", params=params, headers=gateway.auth())
        assert assert_envelope(response, 400, "invalid_request")["param"] == param, params
