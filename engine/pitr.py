"""Restore to a point in time: the newest base archive that began before that time and from which the
captured oplog reaches the time without a hole, restored as any archive is (verified, guarded, staged), then
the oplog entries from the base's start up to and including that time replayed onto it. Replaying entries
the base already holds changes nothing: oplog entries are idempotent."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bson import Timestamp

from engine.catalog import ArchiveEntry, list_archives
from engine.clock import Clock, parse_iso, utc_now
from engine.errors import ArchiveNotFound, VerificationError
from engine.oplog import list_chunks, parse_time, read_entries, timestamp_time
from engine.oplog_apply import OplogApplier
from engine.progress import ProgressCallback
from engine.restore import RestoreRequest, RestoreResult, run_restore, wait_until_ready
from engine.storage import Storage


@dataclass
class PointInTime:
    """What a restore to `until` will do: which base, from where the oplog is replayed, how many entries."""

    base: ArchiveEntry
    after: Timestamp  # entries after this are replayed (the base's start)
    until: Timestamp
    entries: int = 0


def base_start(storage: Storage, entry: ArchiveEntry) -> Timestamp:
    """Where replay begins for a base: its dump's oplog start when it recorded one, else its start second
    (entries of that second are replayed again: harmless)."""
    manifest = entry.manifest(storage)
    if manifest is not None and manifest.oplog_start:
        return Timestamp(int(manifest.oplog_start["t"]), int(manifest.oplog_start["i"]))
    started = parse_iso(manifest.started_at) if manifest is not None else entry.ref.time
    return Timestamp(int(started.timestamp()), 0)


def plan_point_in_time(storage: Storage, to_time: str) -> PointInTime:
    """The newest base that began before the time and reaches it through the oplog; counts the entries."""
    try:
        until = parse_time(to_time)
    except ValueError as error:
        raise VerificationError(f"--to-time {to_time!r} is not a time: {error}") from None
    moment = timestamp_time(until)
    bases = [entry for entry in list_archives(storage) if entry.status == "complete" and entry.ref.time <= moment]
    if not bases:
        raise ArchiveNotFound(f"no archive began before {moment:%Y-%m-%d %H:%M:%S} UTC in {storage.url}")
    chunks = list_chunks(storage)
    newest = f"{timestamp_time(chunks[-1].last_ts):%Y-%m-%d %H:%M:%S} UTC" if chunks else "nothing captured yet"
    reasons = []
    for base in bases:
        after = base_start(storage, base)
        try:
            count = sum(1 for _ in read_entries(storage, after, until))
        except VerificationError as error:
            reasons.append(f"{base.name}: {error}")
            continue
        return PointInTime(base, after, until, count)
    raise VerificationError(
        f"{moment:%Y-%m-%d %H:%M:%S} UTC cannot be reached: {reasons[0]} (oplog captured up to {newest})"
    )


def restore_to_time(
    storage: Storage,
    target_uri: str,
    request: RestoreRequest,
    to_time: str,
    *,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
) -> tuple[PointInTime, RestoreResult]:
    """Restores the chosen base (the request's mode and filters), then replays the oplog onto it."""
    plan = plan_point_in_time(storage, to_time)
    base_request = replace(request, latest=False, day=None, archive=plan.base.name)
    result = run_restore(storage, target_uri, base_request, progress=progress, clock=clock)
    if result.status != "restored":
        return plan, result
    client = wait_until_ready(target_uri, 0)
    try:
        applier = OplogApplier(client, request.namespaces, request.renames)
        for entry in read_entries(storage, plan.after, plan.until):
            applier.apply(dict(entry))
    finally:
        client.close()
    plan.entries = applier.stats.applied + applier.stats.skipped
    return plan, result
