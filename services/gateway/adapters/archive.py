"""Unpacking an adapter archive (.tar.gz/.tgz/.tar or .zip) without trusting it.

Every entry is checked before a byte of it is written: a relative path that stays inside
the target (no absolute path, no `..`), a regular file or a directory (no symbolic or hard
link, no device), the entry count and the declared total size under their caps. While
writing, the bytes actually produced are counted against the same cap, so an archive that
lies about its sizes stops at the cap too: a zip bomb is refused from its headers, before
anything big is written.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from tuneloop_core.errors import InvalidRequestError

CHUNK_BYTES = 1 << 20


# Fills an empty folder with an adapter's files, checked against the limits (or raises 400).
Unpacker = Callable[[Path, "Limits"], None]


@dataclass(frozen=True)
class Limits:
    max_unpacked_bytes: int
    max_files: int
    unpacked_setting: str = "TUNELOOP_GATEWAY_ADAPTER_MAX_UNPACKED_MB"
    files_setting: str = "TUNELOOP_GATEWAY_ADAPTER_MAX_FILES"


def refused(message: str, code: str = "invalid_adapter_archive") -> InvalidRequestError:
    return InvalidRequestError(message, param="file", code=code)


def safe_relpath(name: str) -> PurePosixPath:
    """The entry's path, relative and inside the archive's root; 400 otherwise."""
    if "\\" in name or "\x00" in name:
        raise refused(f"archive entry '{name}' has a backslash or NUL in its path", "unsafe_path")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise refused(f"archive entry '{name}' has an absolute path", "unsafe_path")
    if ".." in path.parts:
        raise refused(f"archive entry '{name}' escapes the archive with '..'", "unsafe_path")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        return PurePosixPath(".")
    return PurePosixPath(*parts)


class _Budget:
    """Counts entries and bytes against the limits, declared and actual."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.files = 0
        self.declared = 0
        self.written = 0

    def _too_big(self) -> InvalidRequestError:
        mb = self.limits.max_unpacked_bytes >> 20
        return refused(
            f"the archive unpacks to more than {mb} MiB ({self.limits.unpacked_setting})",
            "archive_too_large",
        )

    def entry(self, declared_bytes: int) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise refused(
                f"the archive holds more than {self.limits.max_files} entries "
                f"({self.limits.files_setting})",
                "archive_too_many_files",
            )
        self.declared += max(declared_bytes, 0)
        if self.declared > self.limits.max_unpacked_bytes:
            raise self._too_big()

    def copy(self, source: IO[bytes], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:  # "x": a second entry of the same name is refused
            while chunk := source.read(CHUNK_BYTES):
                self.written += len(chunk)
                if self.written > self.limits.max_unpacked_bytes:
                    raise self._too_big()
                out.write(chunk)


def _unpack_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:  # streamed: each header is checked before its data is read
                relpath = safe_relpath(member.name)
                if not (member.isfile() or member.isdir()):
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise refused(f"archive entry '{member.name}' is a {kind}", "unsafe_entry")
                budget.entry(member.size)
                tarfile.data_filter(member, str(dest))  # the stdlib's own check, as well
                if member.isdir():
                    (dest / relpath).mkdir(parents=True, exist_ok=True)
                    continue
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has one
                with source:
                    budget.copy(source, dest / relpath)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FileExistsError):
            raise refused(f"the archive holds '{exc.filename}' twice") from None
        raise refused(f"the archive is damaged: {exc}") from None


def _unpack_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = zf.infolist()
            for info in entries:  # every header first: nothing is written for a bad one
                safe_relpath(info.filename)
                kind_bits = stat.S_IFMT(info.external_attr >> 16)  # 0: made without Unix modes
                if kind_bits not in (0, stat.S_IFREG, stat.S_IFDIR):
                    kind = "link" if kind_bits == stat.S_IFLNK else "special file"
                    raise refused(f"archive entry '{info.filename}' is a {kind}", "unsafe_entry")
                budget.entry(info.file_size)
            for info in entries:
                relpath = safe_relpath(info.filename)
                if info.is_dir():
                    (dest / relpath).mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(info) as source:
                    budget.copy(source, dest / relpath)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileExistsError):
            raise refused(f"the archive holds '{exc.filename}' twice") from None
        raise refused(f"the archive is damaged: {exc}") from None
    except NotImplementedError as exc:  # e.g. a compression method zipfile lacks
        raise refused(f"the archive cannot be read: {exc}") from None


def unpack(archive: Path, dest: Path, limits: Limits) -> None:
    """Unpack `archive` into the empty directory `dest`; 400 for anything unsafe or too
    big, and then `dest` is emptied again."""
    budget = _Budget(limits)
    try:
        if zipfile.is_zipfile(archive):
            _unpack_zip(archive, dest, budget)
        elif tarfile.is_tarfile(archive):
            _unpack_tar(archive, dest, budget)
        else:
            raise refused("the file is not a .tar.gz, .tgz, .tar or .zip archive")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def from_file(path: Path) -> Unpacker:
    """An archive on disk."""
    return lambda dest, limits: unpack(path, dest, limits)


def from_dir(source: Path) -> Unpacker:
    """A folder on disk (vLLM's lora_path), copied with the same checks as an archive."""

    def copy(dest: Path, limits: Limits) -> None:
        budget = _Budget(limits)
        try:
            for path in sorted(source.rglob("*")):
                relpath = path.relative_to(source)
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    kind = "link" if path.is_symlink() else "special file"
                    raise refused(f"'{relpath}' is a {kind}", "unsafe_entry")
                budget.entry(path.stat().st_size)
                if path.is_dir():
                    (dest / relpath).mkdir(parents=True, exist_ok=True)
                    continue
                with path.open("rb") as handle:
                    budget.copy(handle, dest / relpath)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise

    return copy
