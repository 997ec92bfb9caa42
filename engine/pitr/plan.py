"""Planning a restore to a point in time: the newest base archive that ended before that time and from which the
captured oplog reaches the time without a hole, every chunk read and checked, and what the replay can and
cannot be faithful about. engine.restore.to_time carries the plan out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson import Timestamp

from engine.archive.catalog import ArchiveEntry, list_archives
from engine.common.clock import utc_now
from engine.common.errors import VerificationError
from engine.common.states import NOT_A_RECOVERY, ArchiveStatus, RunKind
from engine.evidence.ledger import RunRecord, list_runs
from engine.evidence.verifications import read_verifications
from engine.pitr.base import base_end, base_start
from engine.pitr.chunks import chain_chunks, read_entries
from engine.pitr.coverage import compute_coverage
from engine.pitr.store import ChunkManifest, parse_time, timestamp_time
from engine.storage import Storage


@dataclass
class PointInTime:
    """What a restore to `until` will do: which base, from where the oplog is replayed, which chunks."""

    base: ArchiveEntry
    after: Timestamp  # entries after this are replayed (the base's start)
    until: Timestamp
    chunks: list[ChunkManifest] = field(default_factory=list)
    entries: int = 0
    base_bson_bytes: int = 0
    # Restores recorded in the ledger while the replayed stretch was written: their swaps of staging onto user
    # collections are vaultui's own writes, which the oplog holds only in part (or not at all), so the state
    # replayed across them is not one the database had. A restore to a time refuses unless told to go on.
    restores_between: list[RunRecord] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)  # what the replay cannot be faithful about, in words

    @property
    def faithful(self) -> bool:
        """The replay reproduces the state the database had at `until`, as far as vaultui can tell."""
        return not self.caveats and not self.restores_between

    def outcome(self) -> str:
        """What the target holds after the replay, claimed only as far as it is true."""
        when = f"{timestamp_time(self.until):%Y-%m-%d %H:%M:%S} UTC"
        if self.faithful:
            return f"the target is as it was at {when}"
        return f"the target holds the base and the writes the oplog kept up to {when}, NOT FAITHFUL: " + "; ".join(
            self.caveats
            + (["restores ran within the stretch (their own writes are not replayed)"] if self.restores_between else [])
        )

    def interference(self) -> str:
        """One line naming the restores the replayed stretch holds, and what to do; '' when there are none."""
        if not self.restores_between:
            return ""
        named = ", ".join(
            f"{run.started:%Y-%m-%d %H:%M:%S} UTC ({run.archive or 'an archive'}, {run.result})"
            for run in self.restores_between[:3]
        )
        more = len(self.restores_between) - 3
        return (
            f"between the base's start ({timestamp_time(self.after):%Y-%m-%d %H:%M:%S} UTC) and the time, "
            f"{len(self.restores_between)} restore(s) ran: {named}{f' and {more} more' if more > 0 else ''}. "
            "Their writes are vaultui's own and are not replayed, so the result would be a state the database "
            "never had: choose a time before the first of them, take a backup after them (a new base), or "
            "confirm (--across-restores) to replay only the other writes"
        )


def plan_point_in_time(storage: Storage, to_time: str, *, now: datetime | None = None) -> PointInTime:
    """The newest base that ended before the time and reaches it through the oplog without a hole; every
    chunk needed is read and checked against its manifest here, before anything is restored."""
    try:
        until = parse_time(to_time)
    except ValueError as error:
        raise VerificationError(f"--to-time {to_time!r} is not a time: {error}") from None
    moment = timestamp_time(until)
    entries = list_archives(storage)
    failed = {name for name, passed in read_verifications(storage).items() if not passed}
    reasons = []
    for base in (
        entry
        for entry in entries
        if entry.status == ArchiveStatus.COMPLETE and entry.ref.time <= moment and entry.name not in failed
    ):
        manifest = base.manifest(storage)
        if manifest is None or base_end(manifest) > until:
            continue  # still dumping then: it holds writes from after the time
        after = base_start(storage, base)
        try:
            chunks = chain_chunks(storage, after, until)
            count = sum(1 for _ in read_entries(storage, after, until, chunks))
        except VerificationError as error:
            reasons.append(f"from {base.name}: {error}")
            continue
        return PointInTime(
            base,
            after,
            until,
            chunks,
            count,
            manifest.bson_bytes,
            restores_between=restores_between(storage, after, until),
            caveats=replay_caveats(chunks),
        )
    coverage = compute_coverage(storage, entries, {}, now or utc_now())
    before, later = coverage.nearest(moment)
    nearest = ", ".join(
        f"{label} {when:%Y-%m-%d %H:%M:%S} UTC"
        for label, when in (("the nearest restorable time before it is", before), ("after it", later))
        if when is not None
    )
    why = reasons[0] if reasons else "no complete archive had finished by then"
    raise VerificationError(
        f"{moment:%Y-%m-%d %H:%M:%S} UTC cannot be reached ({why}); "
        + (nearest or f"nothing in {storage.url} is restorable yet")
    )


def restores_between(storage: Storage, after: Timestamp, until: Timestamp) -> list[RunRecord]:
    """Restores of the ledger that ran (or were cut short) while the stretch (after, until] was written. Drills
    write only into their scratch databases, which capture and replay leave out: they do not count."""
    began, ended = timestamp_time(after), timestamp_time(until)
    runs = list_runs(storage, RunKind.RESTORE, since=began - timedelta(hours=LONGEST_RESTORE_HOURS))
    return [run for run in runs if run.result not in NOT_A_RECOVERY and run.started <= ended and run.finished >= began][
        ::-1
    ]


LONGEST_RESTORE_HOURS = 24  # how far before the stretch a restore may have begun and still overlap it


def replay_caveats(chunks: list[ChunkManifest]) -> list[str]:
    if any(not chunk.logs_commands for chunk in chunks):
        return [
            "the server that wrote this oplog logs only inserts, updates and deletes (FerretDB): drops, renames "
            "and index changes between the base and the time are not replayed"
        ]
    return []
