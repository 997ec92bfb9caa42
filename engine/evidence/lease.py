"""The storage lease: runs that change the storage (backup, purge) take it exclusively; runs that read an
archive (restore, verify) take a shared lease naming what they read, which purge respects.

The exclusive lease is one small object, `leases/exclusive.json`, created only if absent (O_EXCL-style on a
folder, `If-None-Match: *` on S3), holding owner, run kind, host, pid and expiry, and renewed while its run
lives. A lease past its expiry belongs to a dead run and is taken over with a warning; `unlock` shows and
clears leases by hand, like restic's. Shared leases are one object per run under `leases/shared/`."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from types import TracebackType

from engine.common.clock import Clock, iso, parse_iso, utc_now
from engine.common.errors import VaultError
from engine.common.schemas import decode
from engine.common.states import RunKind
from engine.storage import Storage
from engine.storage.base import read_bytes, write_bytes
from engine.storage.errors import AccessDenied, ObjectMissing, StorageFault

LEASE_PREFIX = "leases/"
EXCLUSIVE_KEY = LEASE_PREFIX + "exclusive.json"
SHARED_PREFIX = LEASE_PREFIX + "shared/"


def lease_seconds() -> float:
    """How long a lease lives without renewal (the lease_seconds setting); renewed every fifth of it."""
    from engine.common.config import in_force

    return in_force().lease_seconds


_HOST = os.environ.get("HOSTNAME") or socket.gethostname()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can judge: assume alive
    return True


class LeaseHeld(VaultError):
    """Another live run holds the storage lease."""


@dataclass
class LeaseInfo:
    """What one lease object says."""

    run_id: str
    kind: str  # a RunKind; kept a str so that a lease of a kind this version does not know still blocks
    host: str
    pid: int
    acquired_at: str
    expires_at: str
    archives: list[str] = field(default_factory=list)
    key: str = ""

    def expired(self, now: datetime) -> bool:
        """Past its expiry, or held by a process of this host that is gone (a run killed here a moment ago
        is known dead at once; on another host only the expiry tells)."""
        try:
            if parse_iso(self.expires_at) <= now:
                return True
        except ValueError:
            return True
        return self.host == _HOST and self.pid != os.getpid() and not _running(self.pid)

    def describe(self) -> str:
        return (
            f"{self.kind} run {self.run_id} on {self.host} (pid {self.pid}), since {self.acquired_at}, "
            f"expires {self.expires_at}"
        )

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("key")
        return json.dumps(data, sort_keys=True).encode()


def parse_lease(key: str, data: bytes) -> LeaseInfo:
    """A lease object; a malformed one reads as an expired lease of an unknown run (it protects nothing)."""
    try:
        lease = decode(data, LeaseInfo, f"lease {key}")
        lease.key = key
        return lease
    except ValueError:
        return LeaseInfo("unknown", "unknown", "unknown", 0, "unknown", "1970-01-01T00:00:00+00:00", [], key)


def read_leases(storage: Storage) -> list[LeaseInfo]:
    """Every lease object in the storage (the exclusive one first)."""
    found = []
    for info in storage.list(LEASE_PREFIX):
        try:
            found.append(parse_lease(info.key, read_bytes(storage, info.key)))
        except ObjectMissing:
            continue  # released while we listed
    return sorted(found, key=lambda lease: lease.key != EXCLUSIVE_KEY)


def archives_being_read(storage: Storage, now: datetime) -> dict[str, LeaseInfo]:
    """Archives that live shared leases name: purge must not delete them."""
    return {
        name: lease
        for lease in read_leases(storage)
        if lease.key.startswith(SHARED_PREFIX) and not lease.expired(now)
        for name in lease.archives
    }


class StorageLease:
    """Holds a lease for the length of a `with` block, renewing it from a background thread. Exclusive
    leases nest within one process (a backup that purges keeps its own lease)."""

    _held: dict[str, int] = {}
    _held_lock = threading.Lock()

    def __init__(self, storage: Storage, kind: RunKind, *, exclusive: bool, clock: Clock = utc_now) -> None:
        self.storage = storage
        self.exclusive = exclusive
        self.clock = clock
        now = clock()
        self.info = LeaseInfo(
            uuid.uuid4().hex[:12],
            kind,
            _HOST,
            os.getpid(),
            iso(now),
            iso(now + timedelta(seconds=lease_seconds())),
        )
        self.info.key = EXCLUSIVE_KEY if exclusive else f"{SHARED_PREFIX}{self.info.run_id}.json"
        self.warnings: list[str] = []
        self.unprotected = ""  # why no shared lease could be taken, if so
        self._owned = False
        self._nested = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StorageLease:
        if self.exclusive:
            with StorageLease._held_lock:
                if StorageLease._held.get(self.storage.url):
                    StorageLease._held[self.storage.url] += 1
                    self._nested = True
                    return self
            self._take_exclusive()
            with StorageLease._held_lock:
                StorageLease._held[self.storage.url] = 1
        else:
            try:
                write_bytes(self.storage, self.info.key, self.info.to_json())
            except AccessDenied as error:
                # A read-only volume (the restore-at-start sidecar): the read goes on without a lease. Not a
                # warning of its own: the ledger record that cannot be written either already says read-only.
                self.unprotected = str(error)
                return self
        self._owned = True
        self._thread = threading.Thread(target=self._renew, name="vaultui-lease", daemon=True)
        self._thread.start()
        return self

    def _take_exclusive(self) -> None:
        for _ in range(3):
            if self.storage.create_new(EXCLUSIVE_KEY, self.info.to_json()):
                return
            try:
                current = parse_lease(EXCLUSIVE_KEY, read_bytes(self.storage, EXCLUSIVE_KEY))
            except ObjectMissing:
                continue  # released meanwhile: try again
            if not current.expired(self.clock()):
                raise LeaseHeld(
                    f"the storage {self.storage.url} is leased to {current.describe()}: wait for that run to end, "
                    "or if it is dead, clear the lease with unlock"
                )
            self.warnings.append(f"took over an expired storage lease ({current.describe()}): that run died")
            self.storage.delete(EXCLUSIVE_KEY)
        raise LeaseHeld(f"the storage lease of {self.storage.url} keeps changing hands: another run is starting")

    def _renew(self) -> None:
        while not self._stop.wait(lease_seconds() / 5):
            self.info.expires_at = iso(self.clock() + timedelta(seconds=lease_seconds()))
            try:
                write_bytes(self.storage, self.info.key, self.info.to_json())
            except StorageFault:
                continue  # tried again at the next renewal; the lease lasts five of them

    def reading(self, archive: str) -> None:
        """Names an archive this run reads (shared leases): purge will not delete it meanwhile."""
        if self.exclusive or not self._owned or archive in self.info.archives:
            return
        self.info.archives.append(archive)
        try:
            write_bytes(self.storage, self.info.key, self.info.to_json())
        except StorageFault as error:
            self.warnings.append(f"the shared lease could not name {archive}: {error}")

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._nested:
            with StorageLease._held_lock:
                StorageLease._held[self.storage.url] -= 1
            return
        self._stop.set()
        if self.exclusive:
            with StorageLease._held_lock:
                StorageLease._held.pop(self.storage.url, None)
        if not self._owned:
            return
        if self._thread is not None:
            self._thread.join()
        try:
            if self.exclusive:
                current = parse_lease(EXCLUSIVE_KEY, read_bytes(self.storage, EXCLUSIVE_KEY))
                if current.run_id != self.info.run_id:
                    return  # taken over after we stalled past expiry: it is someone else's now
            self.storage.delete(self.info.key)
        except StorageFault:
            pass  # it expires by itself


def unlock(
    storage: Storage, *, everything: bool = False, clock: Clock = utc_now
) -> tuple[list[LeaseInfo], list[LeaseInfo]]:
    """Removes expired leases (all of them with `everything`); returns (removed, kept)."""
    now = clock()
    removed, kept = [], []
    for lease in read_leases(storage):
        if everything or lease.expired(now):
            storage.delete(lease.key)
            removed.append(lease)
        else:
            kept.append(lease)
    return removed, kept
