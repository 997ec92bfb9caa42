"""Legal or incident holds: a sidecar `<archive>.hold.json` that keeps an archive from any purge."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from engine.archive import HOLD_SUFFIX, ArchiveRef, parse_archive_name
from engine.catalog import ArchiveEntry, find_archive, list_archives
from engine.clock import Clock, iso, utc_now
from engine.errors import ConfigError
from engine.schemas import decode
from engine.storage import Storage, read_bytes, write_bytes

UNREADABLE_HOLD = "unreadable hold file"


@dataclass(frozen=True)
class Hold:
    archive: str
    reason: str
    held_at: str

    @property
    def unreadable(self) -> bool:
        """A hold file that did not parse (it still holds: keeping too long is the safe mistake)."""
        return not self.held_at and self.reason.startswith(UNREADABLE_HOLD)


def hold_key(ref: ArchiveRef) -> str:
    return ref.name + HOLD_SUFFIX


def place_hold(storage: Storage, name: str, reason: str, clock: Clock = utc_now) -> Hold:
    if not reason.strip():
        raise ConfigError("a hold needs a reason, e.g. 'incident 2026-11-02'", setting="reason")
    entry = find_archive(storage, name)
    hold = Hold(entry.name, reason.strip(), iso(clock()))
    write_bytes(storage, hold_key(entry.ref), json.dumps(asdict(hold), indent=1).encode() + b"\n")
    return hold


def release_hold(storage: Storage, name: str) -> Hold:
    """Removes the hold on `name`, whether its archive is still there or not (an orphaned hold)."""
    ref = parse_archive_name(name)
    if ref is None:
        ref = find_archive(storage, name).ref  # raises the usual "no such archive" with the listing's help
    hold = read_hold(storage, ref)
    if hold is None:
        raise ConfigError(f"archive {name} is not held")
    storage.delete(hold_key(ref))
    return hold


@dataclass(frozen=True)
class HoldListing:
    hold: Hold
    orphaned: bool  # its archive is gone: the hold protects nothing and can be released


def list_holds(storage: Storage) -> list[HoldListing]:
    """Every hold file in the storage, orphaned ones (archive gone) included."""
    names = {entry.name for entry in list_archives(storage)}
    found = []
    for info in storage.list(recursive=False):
        ref = parse_archive_name(info.key.removesuffix(HOLD_SUFFIX)) if info.key.endswith(HOLD_SUFFIX) else None
        if ref is not None and (hold := read_hold(storage, ref)) is not None:
            found.append(HoldListing(hold, ref.name not in names))
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
