"""Archives `/v1/adapters` refuses with a 400 naming what is wrong, before anything is kept:
pickle weights, paths out of the archive, links, another base's shapes, a rank over the
inference service's limit, a zip bomb, and an archive over the size cap (413)."""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import pytest
import pytest_asyncio
from safetensors import safe_open
from safetensors.numpy import save

from support.smollm2 import SERVED_AS, pulled_smollm2
from support.stack import ApiStack

pytestmark = pytest.mark.asyncio(loop_scope="module")
Q_PROJ = "model.layers.0.self_attn.q_proj"


def q_proj_shape() -> list[int]:
    with safe_open(str(pulled_smollm2() / "model.safetensors"), framework="np") as f:
        return list(f.get_slice(f"{Q_PROJ}.weight").get_shape())


def adapter_files(rank: int = 8, in_dim: int | None = None) -> dict[str, bytes]:
    """A LoRA adapter on SmolLM2's first q_proj, as PEFT lays it out (zeros are enough)."""
    out_dim, base_in = q_proj_shape()
    tensors = {
        f"base_model.model.{Q_PROJ}.lora_A.weight": np.zeros((rank, in_dim or base_in), "f4"),
        f"base_model.model.{Q_PROJ}.lora_B.weight": np.zeros((out_dim, rank), "f4"),
    }
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 16, "target_modules": ["q_proj"]}
    config["layers_to_transform"] = [0]
    return {
        "adapter_config.json": json.dumps(config).encode(),
        "adapter_model.safetensors": save(tensors),
    }


def tar_gz(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    """2 GiB of zeros as the adapter's weights, about 9 MB zipped."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("adapter_config.json", adapter_files()["adapter_config.json"])
        with zf.open("adapter_model.safetensors", "w", force_zip64=True) as f:
            for _ in range(2048):
                f.write(chunk)
    yield path.read_bytes()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(smollm2_stack: ApiStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {smollm2_stack.key('acme')}"}
    async with httpx.AsyncClient(base_url=smollm2_stack.url, headers=headers, timeout=120) as c:
        yield c


async def refused(
    stack: ApiStack, client: httpx.AsyncClient, archive: bytes, filename: str = "bad.tar.gz"
) -> dict[str, str]:
    """Upload; expect a 400 and nothing kept: no adapter folder, no staging, no file."""
    before = (await client.get("/v1/files", params={"purpose": "adapter"})).json()["data"]
    reply = await client.post(
        "/v1/adapters",
        files={"file": (filename, archive)},
        data={"base_model": SERVED_AS, "name": "bad"},
    )
    assert reply.status_code == 400, reply.text
    adapters = stack.common.data_dir / "artifacts" / "adapters"
    kept = [p for p in adapters.rglob("*") if p.is_file()] if adapters.exists() else []
    assert kept == []
    files = (await client.get("/v1/files", params={"purpose": "adapter"})).json()["data"]
    assert files == before
    assert (await client.get("/v1/models/bad")).status_code == 404
    error: dict[str, str] = reply.json()["error"]
    return error


async def test_a_well_formed_archive_is_taken(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    """The forged adapter of these tests is itself fine: each refusal is for its one flaw."""
    reply = await client.post(
        "/v1/adapters",
        files={"file": ("ok.zip", tar_gz(adapter_files()))},
        data={"base_model": SERVED_AS, "name": "forged-ok"},
    )
    assert reply.status_code == 200, reply.text
    assert (await client.delete("/v1/adapters/forged-ok")).status_code == 200


async def test_pickle_weights_are_refused(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    files = {**adapter_files(), "adapter_model.bin": b"\x80\x04pickled"}
    error = await refused(smollm2_stack, client, tar_gz(files))
    assert error["code"] == "pickle_refused" and "pickle weights are refused" in error["message"]


@pytest.mark.parametrize("name", ["../escape.txt", "adapter/../../escape.txt", "/tmp/abs.txt"])
async def test_paths_out_of_the_archive_are_refused(
    smollm2_stack: ApiStack, client: httpx.AsyncClient, name: str
) -> None:
    error = await refused(smollm2_stack, client, tar_gz({**adapter_files(), name: b"x"}))
    assert error["code"] == "unsafe_path" and name in error["message"]
    assert not (smollm2_stack.common.data_dir / "artifacts" / "escape.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
async def test_links_and_devices_are_refused(
    smollm2_stack: ApiStack, client: httpx.AsyncClient, kind: bytes
) -> None:
    link = tarfile.TarInfo("tokenizer.json")
    link.type, link.linkname = kind, "/etc/passwd"
    error = await refused(smollm2_stack, client, tar_gz(adapter_files(), [link]))
    assert error["code"] == "unsafe_entry"


async def test_another_bases_shapes_are_refused(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    error = await refused(smollm2_stack, client, tar_gz(adapter_files(in_dim=17)))
    assert error["code"] == "base_mismatch" and error["param"] == "base_model"
    assert "q_proj" in error["message"]


async def test_a_rank_over_the_limit_names_the_setting(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    limit = smollm2_stack.inference_settings.max_lora_rank
    error = await refused(smollm2_stack, client, tar_gz(adapter_files(rank=limit * 2)))
    assert error["code"] == "rank_too_large"
    assert "TUNELOOP_INFERENCE_MAX_LORA_RANK" in error["message"]


async def test_a_zip_bomb_is_refused_fast_without_writing_it(
    smollm2_stack: ApiStack, client: httpx.AsyncClient, zip_bomb: bytes
) -> None:
    started = time.monotonic()
    error = await refused(smollm2_stack, client, zip_bomb, "bomb.zip")
    assert time.monotonic() - started < 10  # refused from its headers, not by unpacking
    assert error["code"] == "archive_too_large"
    assert "TUNELOOP_GATEWAY_ADAPTER_MAX_UNPACKED_MB" in error["message"]
    written = sum(p.stat().st_size for p in smollm2_stack.common.data_dir.rglob("*") if p.is_file())
    assert written < 1 << 30


async def test_an_archive_over_the_size_cap_is_413_naming_the_setting(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    settings = smollm2_stack.gateway_settings
    settings.adapter_max_archive_mb = 1
    try:
        padded = tar_gz({**adapter_files(), "README.md": np.random.bytes(2 << 20)})
        reply = await client.post(
            "/v1/adapters",
            files={"file": ("big.tar.gz", padded)},
            data={"base_model": SERVED_AS, "name": "big"},
        )
    finally:
        settings.adapter_max_archive_mb = 512
    assert reply.status_code == 413, reply.text
    assert "TUNELOOP_GATEWAY_ADAPTER_MAX_ARCHIVE_MB" in reply.json()["error"]["message"]
    assert not (smollm2_stack.common.data_dir / "artifacts" / "adapters" / "big").exists()


async def test_an_unknown_base_and_a_bad_name_are_400(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    archive = tar_gz(adapter_files())
    reply = await client.post(
        "/v1/adapters", files={"file": ("a.tgz", archive)}, data={"base_model": "llama-70b"}
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "base_model"
    reply = await client.post(
        "/v1/adapters",
        files={"file": ("a.tgz", archive)},
        data={"base_model": SERVED_AS, "name": "ft:sneaky/../name"},
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "name"


async def test_a_symlink_in_a_zip_is_refused(
    smollm2_stack: ApiStack, client: httpx.AsyncClient
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in adapter_files().items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("tokenizer.json")
        link.external_attr = 0o120777 << 16  # S_IFLNK: the entry's bytes are the target
        zf.writestr(link, "/etc/passwd")
    error = await refused(smollm2_stack, client, buffer.getvalue(), "bad.zip")
    assert error["code"] == "unsafe_entry" and "link" in error["message"]
