"""The storage protocol every backend implements: list, stat, streaming read, atomic streaming write, delete."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import BinaryIO, Protocol

from engine.common.limits import MAX_SIDECAR_BYTES, check_size


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key relative to the storage root, its size and when it was written."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class ObjectLock:
    """A store's Object Lock (S3): its objects' versions can be made undeletable by legal holds, and by the
    default retention every new object gets if the bucket has one (`mode` COMPLIANCE or GOVERNANCE, `days`)."""

    mode: str | None = None
    days: int | None = None


class AtomicWriter:
    """A write stream whose object appears only on `commit()`; `abort()` (or an exception) leaves no trace.

    Used as a context manager: a clean exit commits, an exception aborts and propagates.
    """

    def write(self, data: bytes | bytearray | memoryview) -> int:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Durability is handled at commit; tar and compressor layers may call this freely."""

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


class Storage(Protocol):
    """Where archives, manifests and the ledger live. Keys are relative, '/'-separated."""

    @property
    def url(self) -> str:
        """Where this storage is, for people to read: never holds a secret."""
        ...

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`; with `recursive=False`, none below a further '/'."""
        ...

    def stat(self, key: str) -> ObjectInfo | None: ...

    def open_read(self, key: str) -> BinaryIO:
        """A stream of the object's bytes; raises ObjectMissing when it does not exist."""
        ...

    def open_write(self, key: str) -> AtomicWriter: ...

    def create_new(self, key: str, data: bytes) -> bool:
        """Writes a small object only if no object has that key (atomically: of two racing writers exactly
        one wins); False when one exists. What leases are made of."""
        ...

    def unfinished_writes(self, started_before: datetime) -> builtins.list[ObjectInfo]:
        """Writes that never committed nor aborted (the writer was killed), started before `started_before`:
        hidden temporary files in a folder, incomplete multipart uploads in S3."""
        ...

    def discard_unfinished(
        self, started_before: datetime, only: Callable[[str], bool] | None = None
    ) -> builtins.list[str]:
        """Removes what `unfinished_writes` lists (with `only`, those whose intended key it accepts); returns
        the keys it removed."""
        ...

    def delete(self, key: str) -> None:
        """Removes the object; a missing object is not an error."""
        ...

    def destroy(self, key: str) -> None:
        """Removes the object's data for good, what a purge promises: where `delete` only hides it (a bucket with
        Object Lock keeps every version) every version goes; ObjectLocked when the store keeps one for now."""
        ...

    def object_lock(self) -> ObjectLock | None:
        """The store's Object Lock, or None when it has none (a folder, a bucket without it)."""
        ...

    def set_legal_hold(self, key: str, on: bool) -> bool:
        """Sets or clears the store's own legal hold on the object (one that vaultui's own credentials may be
        unable to lift); False when the store has none."""
        ...

    def legal_hold(self, key: str) -> bool | None:
        """Whether the store's legal hold is on the object; None when the store has none or the object is gone."""
        ...


def check_reachable(storage: Storage) -> None:
    """Raises the storage's own error (missing folder, unknown bucket, denied, unreachable) with one listing
    call: runs that also need a server check the storage first, as it is the cheaper, local check."""
    next(iter(storage.list("", recursive=False)), None)


def ignored_names(storage: Storage) -> builtins.list[str]:
    """The objects the storage's listings left out because their names are not UTF-8, escaped for display
    (only a folder can hold such names)."""
    return sorted(getattr(storage, "ignored", ()))


IGNORED_REASON = "its name is not valid UTF-8: vaultui leaves it alone (rename or remove it)"


def read_bytes(storage: Storage, key: str, limit: int = MAX_SIDECAR_BYTES) -> bytes:
    """A small object whole; one past `limit` bytes is TooLarge (never read into memory past it)."""
    with storage.open_read(key) as stream:
        data = stream.read(limit + 1)
    check_size(len(data), limit, f"{key} in {storage.url}")
    return data


def write_bytes(storage: Storage, key: str, data: bytes) -> None:
    with storage.open_write(key) as out:
        out.write(data)
