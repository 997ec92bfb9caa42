"""Legal or incident holds: a sidecar `<archive>.hold.json` that keeps an archive from any purge. Where the store
has legal holds of its own (S3 Object Lock), the archive and its manifest get one too: credentials that may
delete the sidecar still cannot delete a version S3 holds."""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass

from engine.archive.catalog import ArchiveEntry, find_archive, list_archives
from engine.archive.format import HOLD_SUFFIX, ArchiveRef, parse_archive_name
from engine.common.clock import Clock, iso, utc_now
from engine.common.errors import ConfigError
from engine.common.schemas import decode
from engine.storage import Storage, read_bytes, write_bytes
from engine.storage.errors import StorageFault

UNREADABLE_HOLD = "unreadable hold file"


@dataclass(frozen=True)
class Hold:
    archive: str
    reason: str
    held_at: str
    held_by: str = ""  # user@host of whoever placed it (holds written before this field: unknown)

    def describe(self) -> str:
        """The reason, who held it and since when, as far as the hold file says."""
        facts = [f"by {self.held_by}" if self.held_by else "", f"since {self.held_at}" if self.held_at else ""]
        known = ", ".join(fact for fact in facts if fact)
        return self.reason + (f" ({known})" if known else "")

    @property
    def unreadable(self) -> bool:
        """A hold file that did not parse (it still holds: keeping too long is the safe mistake)."""
        return not self.held_at and self.reason.startswith(UNREADABLE_HOLD)


def placed_by() -> str:
    """user@host of the process placing a hold, for the auditor reading it later."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container UID with no passwd entry
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def hold_key(ref: ArchiveRef) -> str:
    return ref.name + HOLD_SUFFIX


def place_hold(storage: Storage, name: str, reason: str, clock: Clock = utc_now) -> Hold:
    if not reason.strip():
        raise ConfigError("a hold needs a reason, e.g. 'incident 2026-11-02'", setting="reason")
    entry = find_archive(storage, name)
    hold = Hold(entry.name, reason.strip(), iso(clock()), placed_by())
    # The store's legal hold first: one it refuses leaves no sidecar claiming a hold that is not there.
    set_legal_holds(storage, entry.ref, True, failed=f"{entry.name} was not held")
    write_bytes(storage, hold_key(entry.ref), json.dumps(asdict(hold), indent=1).encode() + b"\n")
    return hold


def release_hold(storage: Storage, name: str) -> Hold:
    """Removes the hold on `name`, whether its archive is still there or not (an orphaned hold)."""
    ref = parse_archive_name(name)
    if ref is None:
        ref = find_archive(storage, name).ref  # raises the usual "no such archive" with the listing's help
    hold = read_hold(storage, ref)
    if hold is None:
        if not any(legal_holds(storage, ref)):  # a sidecar gone, its legal hold left: unhold lifts that too
            raise ConfigError(f"archive {name} is not held")
        hold = Hold(ref.name, "a legal hold in the storage, without its hold file", "")
    # The store's legal hold goes first: one it refuses to lift leaves the archive held by both, as it was.
    set_legal_holds(storage, ref, False, failed=f"the hold on {ref.name} stays")
    storage.delete(hold_key(ref))
    return hold


def set_legal_holds(storage: Storage, ref: ArchiveRef, on: bool, failed: str) -> None:
    """Sets or clears the store's own legal hold on the archive and its manifest, those still there; a refusal
    says what it means for the hold (`failed`)."""
    if storage.object_lock() is None:
        return
    try:
        for key in (ref.name, ref.manifest_key):
            if storage.stat(key) is not None:
                storage.set_legal_hold(key, on)
    except StorageFault as error:
        raise type(error)(f"{error}; {failed}") from error


def legal_holds(storage: Storage, ref: ArchiveRef) -> list[bool]:
    """Whether the store's own legal hold is on the archive and on its manifest, those still there (none where the
    store has no legal holds)."""
    if storage.object_lock() is None:
        return []
    return [state for key in (ref.name, ref.manifest_key) if (state := storage.legal_hold(key)) is not None]


def legal_hold_state(storage: Storage, ref: ArchiveRef) -> bool | None:
    """Whether the store's legal hold keeps both; None where the store has none, or neither is there."""
    states = legal_holds(storage, ref)
    return all(states) if states else None


@dataclass(frozen=True)
class HoldListing:
    hold: Hold
    orphaned: bool  # its archive is gone: the hold protects nothing and can be released
    locked: bool | None = None  # also under the store's legal hold (S3 Object Lock); None: the store has none


def list_holds(storage: Storage) -> list[HoldListing]:
    """Every hold file in the storage, orphaned ones (archive gone) included."""
    names = {entry.name for entry in list_archives(storage)}
    found = []
    for info in storage.list(recursive=False):
        ref = parse_archive_name(info.key.removesuffix(HOLD_SUFFIX)) if info.key.endswith(HOLD_SUFFIX) else None
        if ref is not None and (hold := read_hold(storage, ref)) is not None:
            found.append(HoldListing(hold, ref.name not in names, legal_hold_state(storage, ref)))
    return found


def read_hold(storage: Storage, ref: ArchiveRef) -> Hold | None:
    key = hold_key(ref)
    if storage.stat(key) is None:
        return None
    try:
        return decode(read_bytes(storage, key), Hold, f"hold file {key}")
    except ValueError:
        # An unreadable hold still holds: keeping an archive too long is the safe mistake.
        return Hold(ref.name, f"{UNREADABLE_HOLD} {key}", "")


def read_holds(storage: Storage, entries: list[ArchiveEntry]) -> dict[str, Hold]:
    """The holds of the listed archives; only the held ones (known from the listing) are read."""
    return {entry.name: hold for entry in entries if entry.held and (hold := read_hold(storage, entry.ref)) is not None}
