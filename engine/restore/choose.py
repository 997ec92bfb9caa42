"""Choosing the archive of a restore: the candidates in order (latest good first, by name, or the newest of a
day), the first that verifies, why the others were passed over, and the namespaces it restores."""

from __future__ import annotations

from datetime import datetime

from engine.archive.catalog import ArchiveEntry, find_archive, list_archives, stamped_in_future
from engine.common.clock import Clock
from engine.common.errors import ArchiveNotFound, ConfigError, VerificationError
from engine.common.progress import ProgressCallback
from engine.common.remap import rename
from engine.common.states import ArchiveStatus
from engine.evidence.verify import VerifyReport, verify_and_record
from engine.restore.load import LoadItem
from engine.restore.request import RestoreRequest
from engine.storage import Storage


def candidates(storage: Storage, request: RestoreRequest, now: datetime) -> list[ArchiveEntry]:
    """The archives to try, in order. Latest-first means latest *good*, in one time order whoever made them
    (an old-pipeline archive of yesterday comes before a vaultui archive of last month); incomplete archives
    (no manifest) and archives stamped in the future (clock skew) are never candidates."""
    if request.archive is not None:
        return [find_archive(storage, request.archive)]
    entries = [entry for entry in list_archives(storage) if entry.status != ArchiveStatus.INCOMPLETE]
    if request.day is not None:
        of_day = [entry for entry in entries if entry.ref.time.date() == request.day]
        if not of_day:
            raise ArchiveNotFound(f"no archive from {request.day.isoformat()} (UTC) in {storage.url}")
        return of_day[:1]
    ordered = [entry for entry in entries if not stamped_in_future(entry, now)]
    if not ordered:
        raise ArchiveNotFound(f"no restorable archive in {storage.url}: run a backup first")
    return ordered


def future_stamped(storage: Storage, request: RestoreRequest, now: datetime) -> list[tuple[str, str]]:
    """Archives --latest passes over because their name is in the future (clock skew), each with why."""
    if not request.latest:
        return []
    return [
        (entry.name, f"stamped {entry.ref.time:%Y-%m-%d %H:%M} UTC, in the future: clock skew, not the latest")
        for entry in list_archives(storage)
        if entry.status != ArchiveStatus.INCOMPLETE and stamped_in_future(entry, now)
    ]


def rejection(report: VerifyReport) -> str:
    """Why an archive was passed over: unreadable in the storage (a permission, a link), or its content."""
    reason = "; ".join(report.problems)
    return f"unreadable: {report.unreadable}" if report.unreadable else f"failed verification: {reason}"


def refused_archive(name: str, why: str) -> VerificationError:
    """The error when the one archive asked for cannot be used."""
    verdict, _, reason = why.partition(": ")
    return VerificationError(f"archive {name} {verdict}, nothing was changed: {reason}")


def none_verified(rejected: list[tuple[str, str]]) -> VerificationError:
    """The error when every candidate was passed over."""
    newest, why = rejected[0]
    tried = f"{len(rejected)} tried, newest {newest}: {why}"
    return VerificationError(f"no archive verified ({tried}); nothing was changed")


def choose_verified(
    storage: Storage,
    request: RestoreRequest,
    progress: ProgressCallback | None,
    clock: Clock,
    *,
    digests: bool = False,
) -> tuple[ArchiveEntry, VerifyReport, list[tuple[str, str]]]:
    """The first candidate that verifies in full, and the ones rejected on the way (each recorded). `digests`:
    each collection's order-free digest too (a drill compares the restored documents with it)."""
    now = clock()
    rejected = future_stamped(storage, request, now)
    for entry in candidates(storage, request, now):
        report = verify_and_record(storage, entry, progress=progress, clock=clock, digests=digests)
        if report.ok:
            return entry, report, rejected
        rejected.append((entry.name, rejection(report)))
        if not request.latest:
            raise refused_archive(entry.name, rejected[-1][1])
    raise none_verified(rejected)


def plan_items(report: VerifyReport, request: RestoreRequest) -> list[LoadItem]:
    items = []
    for source, found in sorted(report.collections.items()):
        if not request.namespaces.accepts(source):
            continue
        metadata = found.metadata or {}
        items.append(
            LoadItem(
                source,
                rename(source, request.renames),
                metadata.get("type", "collection"),
                metadata,
                found.documents,
                found.bson_bytes,
                found.stem,
            )
        )
    if not items:
        held = ", ".join(sorted(report.collections)[:8]) or "nothing"
        raise ConfigError(f"nothing in {report.archive} matches the namespace filter (it holds {held})")
    return items
