"""The artifact store: uploaded files, datasets, adapters, reports under the data directory.

Writes go to a temporary file first and are renamed into place, so a crash never leaves a
half-written artifact under its final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tuneloop_core.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact landed (relative to the store root), its size and SHA-256."""

    relpath: str
    bytes: int
    sha256: str


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, relpath: str) -> Path:
        """Absolute path of an artifact; refuses paths that escape the store."""
        resolved = (self.root / relpath).resolve()
        if not resolved.is_relative_to(self.root):
            raise InvalidRequestError(f"path escapes the artifact store: {relpath}")
        return resolved

    def write(
        self, relpath: str, source: BinaryIO, *, max_bytes: int | None = None
    ) -> StoredArtifact:
        """Copy `source` to `relpath` atomically, hashing as it goes."""
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK_BYTES):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLargeError(f"file larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredArtifact(relpath=relpath, bytes=size, sha256=digest.hexdigest())

    def open(self, relpath: str) -> BinaryIO:
        target = self.path(relpath)
        if not target.is_file():
            raise NotFoundError(f"artifact missing: {relpath}")
        return target.open("rb")

    def delete(self, relpath: str) -> None:
        """Remove a file or a directory tree; missing is fine (deletes are idempotent)."""
        target = self.path(relpath)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
