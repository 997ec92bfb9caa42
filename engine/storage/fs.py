"""Storage in a local folder, typically a PersistentVolumeClaim mounted into the pod."""

from __future__ import annotations

import builtins
import errno
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from engine.common.printable import printable, undecodable
from engine.storage.base import AtomicWriter, ObjectInfo, ObjectLock
from engine.storage.errors import AccessDenied, ObjectMissing, StorageFault

PARTIAL_SUFFIX = ".partial"


# What a user needs for each operation on a folder: the hint names the one that failed.
_FOLDER_GRANTS = {
    "read": "read access to it",
    "write": "write access to its folder",
    "list": "read and search (r-x) access to the folder",
    "delete": "write access to the folder holding it",
}


def _explain(error: OSError, action: str, path: Path) -> StorageFault:
    if error.errno == errno.EROFS:
        return AccessDenied(f"cannot {action} {path}: the volume is mounted read-only; mount it read-write")
    if isinstance(error, PermissionError):
        grant = _FOLDER_GRANTS.get(action, f"permission to {action} it")
        who = f"the user running vaultui (uid {os.geteuid()})"
        return AccessDenied(f"no permission to {action} {path}: give {who} {grant}")
    if error.errno == errno.ENOSPC:
        return StorageFault(f"no space left to {action} {path}: free space or grow the volume")
    return StorageFault(f"cannot {action} {path}: {error.strerror or error}")


class _FolderWriter(AtomicWriter):
    """Writes to a hidden temporary file beside the target, fsyncs it, then renames it into place."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._target = target
        self._temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO | None = self._temporary.open("xb")
        except OSError as error:
            raise _explain(error, "write", target) from error

    def write(self, data: bytes | bytearray | memoryview) -> int:
        assert self._file is not None, "write after commit or abort"
        try:
            return self._file.write(data)
        except OSError as error:
            self.abort()
            raise _explain(error, "write", self._target) from error

    def commit(self) -> None:
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            os.replace(self._temporary, self._target)
            directory = os.open(self._target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            self.abort()
            raise _explain(error, "write", self._target) from error

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temporary.unlink(missing_ok=True)


class FolderStorage:
    """Objects are files under `root`; keys map to relative paths. The folder must already exist, so that
    a PVC that failed to mount is reported instead of silently filling the container's own disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Files whose names are not UTF-8 (shown escaped): no key of vaultui's is named so, and S3 keys cannot
        # be, so listings leave them out; the faces name them once (engine.storage.base.ignored_names).
        self.ignored: set[str] = set()

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    @cached_property
    def _real_root(self) -> Path:
        return self.root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()  # links followed: one that leads out of the folder is refused
        if not path.is_relative_to(self._real_root):
            raise StorageFault(f"storage key {key!r} points outside {self.root}")
        return path

    def _require_root(self) -> None:
        if not self.root.is_dir():
            raise StorageFault(f"storage folder {self.root} does not exist: create it or mount the backup volume there")

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        self._require_root()
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not start.is_dir():
            return
        try:
            yield from self._scan(start, prefix, recursive)
        except OSError as error:
            raise _explain(error, "list", start) from error

    def _scan(self, directory: Path, prefix: str, recursive: bool) -> Iterator[ObjectInfo]:
        """One scandir per folder (its entries carry their stat), sorted, hidden temporaries skipped."""
        relative = directory.relative_to(self.root).as_posix()
        base = "" if relative == "." else relative + "/"
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        for entry in entries:
            if entry.name.startswith("."):
                continue  # temporary files of writes in progress
            key = base + entry.name
            if undecodable(key):
                self.ignored.add(printable(key))
                continue
            if entry.is_dir(follow_symlinks=False):
                if recursive and (key + "/").startswith(prefix[: len(key) + 1]):
                    yield from self._scan(Path(entry.path), prefix, recursive)
            elif key.startswith(prefix) and entry.is_file():
                stat = entry.stat()
                yield ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._require_root()
            return None
        except OSError as error:
            raise _explain(error, "read", path) from error
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError:
            self._require_root()
            raise ObjectMissing(f"{key} not found in {self.url}") from None
        except OSError as error:
            raise _explain(error, "read", path) from error

    def open_write(self, key: str) -> AtomicWriter:
        self._require_root()
        return _FolderWriter(self._path(key))

    def create_new(self, key: str, data: bytes) -> bool:
        # Written whole to a hidden file, then hard-linked into place: link(2) fails if the name exists, so
        # the object appears complete or not at all, and only once.
        self._require_root()
        target = self._path(key)
        writer = _FolderWriter(target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.new"))
        writer.write(data)
        writer.commit()
        staged = writer.target
        try:
            os.link(staged, target)
            return True
        except FileExistsError:
            return False
        except OSError as error:
            raise _explain(error, "write", target) from error
        finally:
            staged.unlink(missing_ok=True)

    def unfinished_writes(self, started_before: datetime) -> builtins.list[ObjectInfo]:
        self._require_root()
        found = []
        try:
            for path in self.root.rglob(f".*{PARTIAL_SUFFIX}"):
                stat = path.lstat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                if path.is_file() and not path.is_symlink() and modified < started_before:
                    found.append(ObjectInfo(path.relative_to(self.root).as_posix(), stat.st_size, modified))
        except OSError as error:
            raise _explain(error, "list", self.root) from error
        return found

    def discard_unfinished(
        self, started_before: datetime, only: Callable[[str], bool] | None = None
    ) -> builtins.list[str]:
        removed = []
        for info in self.unfinished_writes(started_before):
            folder, _, name = info.key.rpartition("/")
            intended = (folder + "/" if folder else "") + name[1:].rsplit(".", 2)[0]  # .<name>.<hex>.partial
            if only is not None and not only(intended):
                continue
            self.delete(info.key)
            removed.append(info.key)
        return removed

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise _explain(error, "delete", path) from error

    def destroy(self, key: str) -> None:
        self.delete(key)  # a file has no versions: deleting it is destroying it

    def object_lock(self) -> ObjectLock | None:
        return None

    def set_legal_hold(self, key: str, on: bool) -> bool:
        return False

    def legal_hold(self, key: str) -> bool | None:
        return None
