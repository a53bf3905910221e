"""`/v1/files` through the official `openai` SDK, and malformed requests through plain httpx:
uploads, content, delete, file names, the size cap and bad input, every failure in the
OpenAI error envelope (listing and tenants: test_files_listing.py)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import openai
import pytest

from services.gateway.files.service import MAX_FILENAME_CHARS
from support.gateway import Gateway, assert_envelope
from support.uploads import (
    MULTIPART,
    MiB,
    multipart_around_file,
    stored_files,
    tenant_id,
    upload,
)

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
    row = gateway.state.registry.sync.get_file(tenant_id(gateway), created.id)
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    assert row.path == f"files/{tenant_id(gateway)}/{created.id}"
    assert gateway.state.artifacts.path(row.path).read_bytes() == content
    assert (await sdk.files.retrieve(created.id)).model_dump() == created.model_dump()


async def test_every_upload_purpose_is_accepted(sdk: openai.AsyncOpenAI) -> None:
    purposes = ["fine-tune", "assistants", "user_data", "evals", "datagen", "knowledge", "batch"]
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
    assert gateway.state.registry.sync.list_files(tenant_id(gateway)) == []


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
        (one, {"purpose": "batch_output"}, "purpose", "invalid_request"),  # a batch's own
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
    assert gateway.state.registry.sync.list_files(tenant_id(gateway)) == []


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
