"""Lists the archives in a storage, newest first, from one listing: archives, manifests and holds together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.archive.format import HOLD_SUFFIX, MANIFEST_SUFFIX, ArchiveRef, parse_archive_name
from engine.archive.manifest import Manifest, read_manifest
from engine.common.errors import ArchiveNotFound
from engine.common.states import ArchiveStatus
from engine.storage import Storage


@dataclass
class ArchiveEntry:
    """An archive as the storage holds it. `status`: complete (has a manifest), legacy (made by the old
    shell pipeline: no manifest, unverified), or incomplete (no manifest: a run that never finished)."""

    ref: ArchiveRef
    size: int
    modified: datetime
    has_manifest: bool
    held: bool = False
    committed: datetime | None = None  # when its manifest was written (the storage's clock): the run's end

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def status(self) -> ArchiveStatus:
        if self.has_manifest:
            return ArchiveStatus.COMPLETE
        return ArchiveStatus.LEGACY if self.ref.legacy else ArchiveStatus.INCOMPLETE

    def manifest(self, storage: Storage) -> Manifest | None:
        return read_manifest(storage, self.ref) if self.has_manifest else None


# An archive named more than this after the present was stamped by a clock that ran ahead: it is never
# "the latest" and never earns retention's protection.
CLOCK_SKEW_TOLERANCE = timedelta(hours=1)


def stamped_in_future(entry: ArchiveEntry, now: datetime) -> bool:
    return entry.ref.time > now + CLOCK_SKEW_TOLERANCE


# A backup writes its archive at the end of its run, so the storage's own write time (its clock, not the
# writer's) comes after the name's time by the run's length. The CronJob's deadline is 4 hours.
LONGEST_RUN = timedelta(hours=4)


def clock_skew(entry: ArchiveEntry, now: datetime) -> str:
    """Why the archive's name cannot be trusted as its time, or "": a name in the future, or (vaultui names)
    a name the storage's own write time contradicts. Copies between storages can move write times: status
    says it, nothing else acts on the second case."""
    if stamped_in_future(entry, now):
        return f"named {entry.ref.time:%Y-%m-%d %H:%M} UTC, in the future"
    if entry.ref.legacy:
        return ""  # the old pipeline's files were often copied: their write times say nothing
    if entry.ref.time > entry.modified + CLOCK_SKEW_TOLERANCE:
        return f"named {entry.ref.time:%Y-%m-%d %H:%M} UTC but stored at {entry.modified:%Y-%m-%d %H:%M} UTC"
    if entry.modified - entry.ref.time > LONGEST_RUN + CLOCK_SKEW_TOLERANCE:
        return f"named {entry.ref.time:%Y-%m-%d %H:%M} UTC but stored at {entry.modified:%Y-%m-%d %H:%M} UTC"
    return ""


def list_archives(storage: Storage) -> list[ArchiveEntry]:
    """Every archive at the top of the storage, newest first. One listing call, no per-archive reads."""
    objects = list(storage.list("", recursive=False))
    manifests = {
        info.key.removesuffix(MANIFEST_SUFFIX): info.modified for info in objects if info.key.endswith(MANIFEST_SUFFIX)
    }
    held = {info.key.removesuffix(HOLD_SUFFIX) for info in objects if info.key.endswith(HOLD_SUFFIX)}
    entries = []
    for info in objects:
        ref = parse_archive_name(info.key)
        if ref is not None:
            committed = manifests.get(info.key)
            entries.append(
                ArchiveEntry(ref, info.size, info.modified, committed is not None, info.key in held, committed)
            )
    entries.sort(key=lambda entry: (entry.ref.time, entry.ref.name), reverse=True)
    return entries


def find_archive(storage: Storage, name: str) -> ArchiveEntry:
    ref = parse_archive_name(name)
    if ref is None:
        raise ArchiveNotFound(
            f"{name!r} is not an archive name: expected YYYYMMDDTHHMMSSZ.tar.gz|.tar.zst or YYYYMMDD.tar.gz"
        )
    info = storage.stat(name)
    if info is None:
        raise ArchiveNotFound(f"archive {name} not found in {storage.url}: the archive list shows their names")
    manifest = storage.stat(ref.manifest_key)
    return ArchiveEntry(
        ref,
        info.size,
        info.modified,
        manifest is not None,
        storage.stat(ref.name + HOLD_SUFFIX) is not None,
        manifest.modified if manifest is not None else None,
    )
