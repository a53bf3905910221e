"""`/v1/files` listing (purpose filter, order, keyset cursors under churn) and tenant
isolation, through the official `openai` SDK."""

from __future__ import annotations

import openai

from services.gateway.registry.models import File
from support.gateway import Gateway, assert_envelope
from support.uploads import upload


def set_created_at(gateway: Gateway, stamps: dict[str, int]) -> None:
    with gateway.state.registry.sync.db.session() as s:
        for file_id, created_at in stamps.items():
            row = s.get(File, file_id)
            assert row is not None
            row.created_at = created_at


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
    other_key, _ = gateway.state.registry.sync.create_api_key("globex")
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
