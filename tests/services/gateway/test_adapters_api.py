"""`/v1/adapters` end to end over real HTTP: a LoRA adapter made with a few lines of `peft`
on SmolLM2 (outside Tuneloop) is uploaded as a .tar.gz, answers the official openai SDK
under its name, is listed with its origin, exports, and is deleted; other tenants never see
it; the ADAPTERS stream holds what every replica must serve."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import nats
import openai
import pytest
import pytest_asyncio

from support.smollm2 import SERVED_AS, pulled_smollm2
from support.stack import ApiStack
from tuneloop.events.v1 import events_pb2
from tuneloop_cli.main import main
from tuneloop_core.bus import subjects

pytestmark = pytest.mark.asyncio(loop_scope="module")


def peft_adapter(out: Path) -> Path:
    """What a team with its own PEFT script has: r=8 LoRA on SmolLM2, save_pretrained."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(pulled_smollm2())
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    get_peft_model(base, config).save_pretrained(out)  # safetensors by default
    return out


def tar_gz(folder: Path, arcname: str = "adapter") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return peft_adapter(tmp_path_factory.mktemp("peft") / "support-bot")


def http(stack: ApiStack, tenant: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {stack.key(tenant)}"}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=120)


async def upload(
    client: httpx.AsyncClient, archive: bytes, filename: str, **form: str
) -> httpx.Response:
    data = {"base_model": SERVED_AS, **form}
    return await client.post("/v1/adapters", files={"file": (filename, archive)}, data=data)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def imported(smollm2_stack: ApiStack, adapter_dir: Path) -> dict[str, Any]:
    async with http(smollm2_stack, "acme") as client:
        reply = await upload(client, tar_gz(adapter_dir), "support-bot.tar.gz")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_an_uploaded_peft_adapter_answers_under_its_name(
    smollm2_stack: ApiStack, smollm2: openai.AsyncOpenAI, imported: dict[str, Any]
) -> None:
    assert imported["id"] == "support-bot"  # named after the archive
    assert imported["base_model"] == SERVED_AS and imported["rank"] == 8
    assert imported["origin"] == "imported" and imported["file_id"].startswith("file-")
    assert imported["target_modules"] == ["q_proj", "v_proj"]

    reply = await smollm2.chat.completions.create(
        model="support-bot",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.model == "support-bot" and reply.choices[0].message.content

    listed = {m.id: m for m in (await smollm2.models.list()).data}
    model = listed["support-bot"].model_dump()
    assert model["parent"] == SERVED_AS and model["origin"] == "imported"
    assert model["file_id"] == imported["file_id"]
    assert listed[SERVED_AS].model_dump().get("origin") is None  # a base has none

    archive = await smollm2.files.retrieve(imported["file_id"])
    assert archive.purpose == "adapter" and archive.filename == "support-bot.tar.gz"
    kept = smollm2_stack.common.data_dir / model["root"]
    assert (kept / "adapter_model.safetensors").is_file()


async def test_the_adapters_api_lists_and_gets_it(
    smollm2_stack: ApiStack, imported: dict[str, Any]
) -> None:
    async with http(smollm2_stack, "acme") as client:
        listed = (await client.get("/v1/adapters")).json()
        one = (await client.get("/v1/adapters/support-bot")).json()
    assert [a["id"] for a in listed["data"]] == ["support-bot"]
    assert one == imported


async def test_other_tenants_neither_see_nor_use_nor_take_its_name(
    smollm2_stack: ApiStack, adapter_dir: Path, imported: dict[str, Any]
) -> None:
    async with http(smollm2_stack, "globex") as client:
        models = (await client.get("/v1/models")).json()["data"]
        assert "support-bot" not in {m["id"] for m in models}
        assert (await client.get("/v1/adapters/support-bot")).status_code == 404
        assert (await client.delete("/v1/adapters/support-bot")).status_code == 404
        chat = await client.post(
            "/v1/chat/completions",
            json={"model": "support-bot", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 404
        taken = await upload(client, tar_gz(adapter_dir), "support-bot.tar.gz")
        assert taken.status_code == 409 and taken.json()["error"]["param"] == "name"


async def test_an_export_resolves_the_imported_adapters_folder(
    smollm2_stack: ApiStack, imported: dict[str, Any]
) -> None:
    async with http(smollm2_stack, "acme") as client:
        root = (await client.get("/v1/models/support-bot")).json()["root"]
        export = await client.post("/v1/exports", json={"model": "support-bot"})
    assert export.status_code == 200, export.text
    spec = export.json()["spec"]
    assert spec["adapter_path"] == root and spec["base_model"] == SERVED_AS


async def test_the_adapters_stream_holds_the_import_then_its_removal(
    smollm2_stack: ApiStack, adapter_dir: Path
) -> None:
    async with http(smollm2_stack, "acme") as client:
        made = await upload(client, tar_gz(adapter_dir), "x.zip", name="short-lived")
        assert made.status_code == 200, made.text
        client_nats = await nats.connect(smollm2_stack.nats.url)
        try:
            js = client_nats.jetstream()
            added = await last_change(js, "short-lived")
            assert added.change == events_pb2.IMPORTED_ADAPTER_CHANGE_ADDED
            assert added.base_model == SERVED_AS and added.file_id == made.json()["file_id"]

            gone = await client.delete("/v1/adapters/short-lived")
            assert gone.status_code == 200 and gone.json()["deleted"] is True
            removed = await last_change(js, "short-lived")
            assert removed.change == events_pb2.IMPORTED_ADAPTER_CHANGE_REMOVED
        finally:
            await client_nats.close()
        assert (await client.get("/v1/models/short-lived")).status_code == 404
        assert (await client.get("/v1/adapters/short-lived")).status_code == 404
        path = smollm2_stack.common.data_dir / added.path
        assert not path.exists()  # its folder is gone; its archive stays a file
        assert (await client.get(f"/v1/files/{added.file_id}")).status_code == 200


async def last_change(js: Any, name: str) -> events_pb2.ImportedAdapterChanged:
    """The stream's current message for the import named `name`."""
    info = await js.stream_info(subjects.STREAM_ADAPTERS)
    found = None
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(subjects.STREAM_ADAPTERS, seq)
        except Exception:
            continue  # replaced by a later message of its subject
        change = events_pb2.ImportedAdapterChanged.FromString(msg.data)
        if change.name == name:
            found = change
    assert found is not None, f"no announcement of {name}"
    return found


async def test_deleting_through_v1_models_deletes_the_import(
    smollm2_stack: ApiStack, adapter_dir: Path
) -> None:
    async with http(smollm2_stack, "acme") as client:
        made = await upload(client, tar_gz(adapter_dir), "a.tgz", name="via-models")
        assert made.status_code == 200, made.text
        assert (await client.delete("/v1/models/via-models")).status_code == 200
        assert (await client.get("/v1/adapters/via-models")).status_code == 404
        again = await upload(client, tar_gz(adapter_dir), "a.tgz", name="via-models")
        assert again.status_code == 200, again.text  # the name is free again
        assert (await client.delete("/v1/adapters/via-models")).status_code == 200


async def test_the_cli_packs_a_folder_and_imports_it(
    smollm2_stack: ApiStack, adapter_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = smollm2_stack.key("acme")
    argv = ["models", "add-adapter", "cli-bot", str(adapter_dir), "--base", SERVED_AS]
    argv += ["--url", smollm2_stack.url, "--key", key]
    assert await asyncio.to_thread(main, argv) == 0
    assert capsys.readouterr().out.strip() == "cli-bot"
    async with http(smollm2_stack, "acme") as client:
        model = (await client.get("/v1/models/cli-bot")).json()
        assert model["origin"] == "imported" and model["parent"] == SERVED_AS
        assert (await client.delete("/v1/adapters/cli-bot")).status_code == 200


async def test_vllms_load_lora_adapter_for_admin_keys_inside_the_import_dir(
    smollm2_stack: ApiStack, adapter_dir: Path
) -> None:
    settings = smollm2_stack.gateway_settings
    body = {"lora_name": "vllm-style", "lora_path": adapter_dir.name}
    async with http(smollm2_stack, "root-admin") as admin, http(smollm2_stack, "acme") as user:
        unset = await admin.post("/v1/load_lora_adapter", json=body)
        assert unset.status_code == 403  # no admin tenants, no import directory yet
        settings.admin_tenants, settings.adapter_import_dir = ["root-admin"], adapter_dir.parent
        try:
            assert (await user.post("/v1/load_lora_adapter", json=body)).status_code == 403
            escape = await admin.post(
                "/v1/load_lora_adapter", json={**body, "lora_path": "../../etc"}
            )
            assert escape.status_code == 400 and escape.json()["error"]["param"] == "lora_path"
            loaded = await admin.post("/v1/load_lora_adapter", json=body)
            assert loaded.status_code == 200, loaded.text
            assert loaded.text == "Success: LoRA adapter 'vllm-style' added successfully."
            chat = await admin.post(
                "/v1/chat/completions",
                json={
                    "model": "vllm-style",
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 4,
                },
            )
            assert chat.status_code == 200, chat.text
            assert (await user.get("/v1/models/vllm-style")).status_code == 404
            unloaded = await admin.post("/v1/unload_lora_adapter", json={"lora_name": "vllm-style"})
            assert unloaded.status_code == 200, unloaded.text
            assert (await admin.get("/v1/models/vllm-style")).status_code == 404
        finally:
            settings.admin_tenants, settings.adapter_import_dir = [], None


async def test_a_fine_tune_starts_from_the_imported_adapter(
    smollm2_stack: ApiStack, smollm2: openai.AsyncOpenAI, imported: dict[str, Any]
) -> None:
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    data = (json.dumps(line) + "\n").encode()
    training = await smollm2.files.create(file=("t.jsonl", data), purpose="fine-tune")
    job = await smollm2.fine_tuning.jobs.create(model="support-bot", training_file=training.id)
    spec = smollm2_stack.registry.get_job(job.id).spec
    root = (await smollm2.models.retrieve("support-bot")).model_dump()["root"]
    assert spec["start_model"] == "support-bot" and spec["start_adapter_path"] == root
    assert spec["base_model"] == SERVED_AS
    await smollm2.fine_tuning.jobs.cancel(job.id)
