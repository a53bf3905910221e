"""ArtifactStore: atomic hashed writes, no escape from the root, size limits, deletes."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from tuneloop_core.artifacts import CHUNK_BYTES, ArtifactStore
from tuneloop_core.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_write_stores_the_bytes_with_size_and_sha256(store: ArtifactStore) -> None:
    # More than one chunk, so hashing across chunk boundaries is covered.
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)
    stored = store.write("files/file-1/train.jsonl", io.BytesIO(data))

    assert stored.relpath == "files/file-1/train.jsonl"
    assert stored.bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (store.root / "files/file-1/train.jsonl").read_bytes() == data
    with store.open("files/file-1/train.jsonl") as f:
        assert f.read() == data
    # Nothing but the artifact itself: the temporary file was renamed into place.
    assert every_file(store.root) == [store.root / "files/file-1/train.jsonl"]


def test_write_replaces_an_existing_artifact(store: ArtifactStore) -> None:
    store.write("a.txt", io.BytesIO(b"old"))
    stored = store.write("a.txt", io.BytesIO(b"new!"))
    assert stored.bytes == 4
    assert (store.root / "a.txt").read_bytes() == b"new!"


def test_an_empty_artifact_is_fine(store: ArtifactStore) -> None:
    stored = store.write("empty", io.BytesIO(b""))
    assert (stored.bytes, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())


@pytest.mark.parametrize(
    "relpath", ["../x", "files/../../x", "/etc/passwd", "a/../../artifacts-sibling/x"]
)
def test_paths_escaping_the_root_are_refused(store: ArtifactStore, relpath: str) -> None:
    with pytest.raises(InvalidRequestError, match="escapes"):
        store.write(relpath, io.BytesIO(b"x"))
    with pytest.raises(InvalidRequestError):
        store.open(relpath)
    with pytest.raises(InvalidRequestError):
        store.delete(relpath)
    assert every_file(store.root.parent) == []


def test_a_path_that_stays_inside_the_root_is_allowed(store: ArtifactStore) -> None:
    store.write("a/../b/c.txt", io.BytesIO(b"x"))
    assert (store.root / "b/c.txt").read_bytes() == b"x"


@pytest.mark.parametrize("size", [11, CHUNK_BYTES + 1])
def test_too_large_an_upload_leaves_nothing_behind(store: ArtifactStore, size: int) -> None:
    limit = size - 1
    with pytest.raises(PayloadTooLargeError):
        store.write("files/big.bin", io.BytesIO(b"x" * size), max_bytes=limit)
    assert every_file(store.root) == []  # neither the artifact nor a temporary file


def test_exactly_max_bytes_is_accepted(store: ArtifactStore) -> None:
    assert store.write("ok.bin", io.BytesIO(b"x" * 10), max_bytes=10).bytes == 10


def test_a_failed_replace_keeps_the_previous_artifact(store: ArtifactStore) -> None:
    store.write("model.bin", io.BytesIO(b"good"))
    with pytest.raises(PayloadTooLargeError):
        store.write("model.bin", io.BytesIO(b"far too large"), max_bytes=5)
    assert (store.root / "model.bin").read_bytes() == b"good"
    assert every_file(store.root) == [store.root / "model.bin"]


def test_delete_is_idempotent_for_files_and_folders(store: ArtifactStore) -> None:
    store.write("adapters/a/weights.bin", io.BytesIO(b"w"))
    store.write("adapters/a/config.json", io.BytesIO(b"{}"))
    store.write("files/f.txt", io.BytesIO(b"f"))

    store.delete("adapters/a")
    store.delete("adapters/a")
    store.delete("files/f.txt")
    store.delete("files/f.txt")
    store.delete("never/existed")

    assert every_file(store.root) == []
    assert not (store.root / "adapters/a").exists()


def test_opening_a_missing_artifact_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(NotFoundError):
        store.open("missing.bin")
