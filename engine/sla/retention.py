"""Retention: a purge plan that gives every archive its fate and the reason, and applying it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import humanize
from bson import Timestamp

from engine.archive.catalog import ArchiveEntry, list_archives, stamped_in_future
from engine.archive.holds import Hold, read_holds
from engine.common.clock import Clock, iso, utc_now
from engine.common.config import DEFAULT_KEEP_LAST, DEFAULT_MAX_AGE_DAYS
from engine.common.errors import ConfigError
from engine.common.faults import checkpoint
from engine.common.progress import ProgressCallback, ProgressTracker
from engine.common.states import ArchiveStatus, PurgeAction, RunKind
from engine.evidence.lease import StorageLease, archives_being_read
from engine.evidence.ledger import recorded_run
from engine.evidence.verifications import read_verifications
from engine.pitr.store import (
    GAP_PREFIX,
    MANIFEST_SUFFIX,
    ChunkRef,
    Gap,
    gap_key,
    gap_resumed,
    list_chunk_refs,
    parse_stamp,
    stamp,
)
from engine.storage import Storage, write_bytes
from engine.storage.errors import StorageFault


@dataclass(frozen=True)
class RetentionPolicy:
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    keep_last: int = DEFAULT_KEEP_LAST

    def validate(self) -> None:
        if self.max_age_days < 1:
            raise ConfigError(f"the retention age must be at least 1 day, not {self.max_age_days}")
        if self.keep_last < 1:
            raise ConfigError(f"keep-last must be 1 or more, not {self.keep_last}", setting="keep_last")


@dataclass(frozen=True)
class Decision:
    """One archive's fate: `delete` or `keep`, with a reason a person can check."""

    entry: ArchiveEntry
    action: PurgeAction
    reason: str
    age_days: int
    purge_in_days: int | None  # for keepers that age out: days until they become purge candidates

    @property
    def name(self) -> str:
        return self.entry.name


@dataclass
class PurgePlan:
    decisions: list[Decision]
    policy: RetentionPolicy
    now: datetime
    chunks: list[ChunkRef] = field(default_factory=list)  # oplog chunks no kept archive needs, oldest first
    gaps: list[str] = field(default_factory=list)  # gap records older than anything kept (their keys)
    chunks_kept: int = 0
    holes: list[tuple[Timestamp, Timestamp]] = field(default_factory=list)  # (last kept, first kept after)

    @property
    def deletions(self) -> list[Decision]:
        return [decision for decision in self.decisions if decision.action == PurgeAction.DELETE]

    @property
    def keepers(self) -> list[Decision]:
        return [decision for decision in self.decisions if decision.action == PurgeAction.KEEP]


@dataclass
class PurgeResult:
    plan: PurgePlan
    deleted: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # candidates that could not be deleted, and why
    chunks_deleted: int = 0

    @property
    def complete(self) -> bool:
        """Every deletion the plan asked for was done (the CLI exits 5 otherwise, the dashboard says FAILED)."""
        return not self.skipped

    def describe(self) -> str:
        """The one line both faces print for a purge that ran."""
        return (
            f"purged {len(self.deleted)} archives ({humanize.naturalsize(self.freed_bytes, binary=True)}), "
            f"kept {len(self.plan.keepers)}"
            + (f", {self.chunks_deleted} oplog chunks" if self.chunks_deleted else "")
            + (f", {len(self.skipped)} could not be deleted" if self.skipped else "")
        )


def plan_purge(
    entries: list[ArchiveEntry],
    holds: dict[str, Hold],
    policy: RetentionPolicy,
    now: datetime,
    verifications: dict[str, bool] | None = None,
) -> PurgePlan:
    """Pure decision over a listing (newest first or not). Rules, first match wins: held archives stay; the
    newest good archive stays (one with a manifest, preferring one whose last verification passed; the
    newest legacy one when none has a manifest); the newest `keep_last` good archives stay; archives older
    than the age limit go; the rest stay. An archive whose newest verification failed (`verifications`, from
    the ledger) is never the one protected and never counts as kept: a corrupt newest archive must not let
    the good older ones go."""
    policy.validate()
    verifications = verifications or {}
    ordered = sorted(entries, key=lambda entry: entry.ref.time, reverse=True)
    restorable = [
        entry
        for entry in ordered
        if entry.status != ArchiveStatus.INCOMPLETE
        and verifications.get(entry.name) is not False
        and not stamped_in_future(entry, now)  # a clock that ran ahead earns no protection
    ]
    with_manifest = [entry for entry in restorable if entry.status == ArchiveStatus.COMPLETE]
    verified = [entry for entry in with_manifest if verifications.get(entry.name)]
    protected = next(iter(verified or with_manifest or restorable), None)
    newest_few = {entry.name for entry in restorable[: policy.keep_last]}
    limit = timedelta(days=policy.max_age_days)
    decisions = []
    for entry in ordered:
        age = now - entry.ref.time
        age_days = max(0, age.days)
        purge_in = max(0, (entry.ref.time + limit - now).days + 1) if age <= limit else 0
        hold = holds.get(entry.name)
        if hold is not None:
            decision = Decision(entry, PurgeAction.KEEP, f"held ({hold.reason})", age_days, None)
        elif entry is protected:
            kind = (
                "verified"
                if verifications.get(entry.name)
                else "complete (manifest, not re-verified)"
                if entry.status == ArchiveStatus.COMPLETE
                else "restorable (legacy, unverified)"
            )
            decision = Decision(entry, PurgeAction.KEEP, f"newest {kind} archive", age_days, None)
        elif entry.name in newest_few:
            decision = Decision(entry, PurgeAction.KEEP, f"keep-last {policy.keep_last}", age_days, None)
        elif age > limit:
            hours = age.seconds // 3600
            decision = Decision(
                entry,
                PurgeAction.DELETE,
                # Days and hours: "90 days old" past a 90-day limit reads like an off-by-one.
                f"{age_days} d {hours} h old, older than the {policy.max_age_days}-day limit",
                age_days,
                None,
            )
        else:
            decision = Decision(entry, PurgeAction.KEEP, f"within {policy.max_age_days} days", age_days, purge_in)
        decisions.append(decision)
    return PurgePlan(decisions, policy, now)


def plan_chunks(plan: PurgePlan, refs: list[ChunkRef], gaps: list[str]) -> PurgePlan:
    """Adds the oplog to a plan. A kept archive needs the chunks from its start to the next kept archive (to
    the newest chunk, for the newest); a held one, to the next archive of any fate, so a hold does not keep
    months of oplog. Chunks no kept archive needs go, oldest first (an interrupted purge leaves no hole in the
    middle). Starts come from the names (never after a dump began), so the plan errs on keeping."""
    kept = sorted((decision.entry for decision in plan.keepers), key=lambda entry: entry.ref.time)
    every = sorted((decision.entry for decision in plan.decisions), key=lambda entry: entry.ref.time)
    needed: list[tuple[Timestamp, Timestamp | None]] = []
    for index, entry in enumerate(kept):
        following = (
            kept[index + 1 :] if not entry.held else [later for later in every if later.ref.time > entry.ref.time]
        )
        end = _start(following[0]) if following else None
        needed.append((_start(entry), end))
    if not needed:
        return plan  # nothing kept to replay onto: the chunks wait for the next archive
    plan.chunks = [ref for ref in refs if not any(_overlaps(ref, start, end) for start, end in needed)]
    plan.chunks_kept = len(refs) - len(plan.chunks)
    # Chunks that go from between kept ones (past a held archive's next one) leave a hole in the middle: it is
    # recorded as a gap, so restorable time and status never count across it.
    doomed = {ref.key for ref in plan.chunks}
    kept_before: ChunkRef | None = None
    inside = False
    for ref in refs:
        if ref.key in doomed:
            inside = kept_before is not None
        else:
            if inside and kept_before is not None:
                plan.holes.append((kept_before.last, ref.first))
            kept_before, inside = ref, False
    oldest_needed = min(start for start, _ in needed)
    plan.gaps = [key for key in gaps if (resumed := _stamp_or_none(gap_resumed(key))) and resumed <= oldest_needed]
    return plan


def _stamp_or_none(text: str) -> Timestamp | None:
    try:
        return parse_stamp(text)
    except ValueError:
        return None  # not a record the capture wrote: left alone


def _start(entry: ArchiveEntry) -> Timestamp:
    return Timestamp(int(entry.ref.time.timestamp()), 0)


def _overlaps(ref: ChunkRef, start: Timestamp, end: Timestamp | None) -> bool:
    """Whether the chunk holds entries a replay from `start` to `end` reads."""
    return ref.last > start and (end is None or ref.first <= end)


def make_plan(storage: Storage, policy: RetentionPolicy, now: datetime) -> PurgePlan:
    entries = list_archives(storage)
    plan = plan_purge(entries, read_holds(storage, entries), policy, now, read_verifications(storage))
    return plan_chunks(plan, list_chunk_refs(storage), [info.key for info in storage.list(GAP_PREFIX)])


def apply_purge(
    storage: Storage,
    policy: RetentionPolicy,
    *,
    clock: Clock = utc_now,
    progress: ProgressCallback | None = None,
) -> PurgeResult:
    """Plans again from a fresh listing (never from a stale preview) and deletes the candidates. Each archive
    goes before its manifest, so an interrupted purge leaves at worst a manifest without archive, which
    lists as nothing, never an archive that looks complete. Deleting is destroying: on a bucket with Object Lock
    every version goes, and one S3 still keeps (a legal hold, retention) is reported and skipped."""
    with (
        recorded_run(storage, RunKind.PURGE, clock, [], details={"max_age_days": policy.max_age_days}) as record,
        StorageLease(storage, RunKind.PURGE, exclusive=True, clock=clock) as lease,
    ):
        plan = make_plan(storage, policy, clock())
        result = PurgeResult(plan)
        being_read = archives_being_read(storage, clock())
        tracker = ProgressTracker("purge", progress, total_documents=len(plan.deletions))
        for decision in plan.deletions:
            if reader := being_read.get(decision.name):
                result.skipped.append((decision.name, f"being read by {reader.describe()}; purged next time"))
                continue
            try:
                storage.destroy(decision.name)
                checkpoint("purge.archive-deleted")
                storage.destroy(decision.entry.ref.manifest_key)
            except StorageFault as error:  # one that cannot go (a link, a permission, a lock) stops nothing else
                result.skipped.append((decision.name, str(error)))
                continue
            result.deleted.append(decision.name)
            result.freed_bytes += decision.entry.size
            tracker.advance(byte_count=decision.entry.size, documents=1, current=decision.name)
        if plan.chunks and not result.skipped:  # an archive that stayed may still need them: next time
            purge_oplog(storage, plan, result)
        tracker.finish()
        record.bytes = result.freed_bytes
        record.details.update(deleted=result.deleted, kept=len(plan.keepers), keep_last=policy.keep_last)
        if lease.warnings:
            record.details["lease"] = lease.warnings
        if result.chunks_deleted:
            record.details["oplog_chunks_deleted"] = result.chunks_deleted
        if result.skipped:
            record.details["skipped"] = [f"{name}: {reason}" for name, reason in result.skipped]
    return result


def purge_oplog(storage: Storage, plan: PurgePlan, result: PurgeResult) -> None:
    """Deletes the plan's chunks oldest first, each manifest before its chunk (a chunk without its manifest
    is never read), then the gap records nothing kept reaches back to. A failure stops the oplog part only."""
    try:
        for after, resumed in plan.holes:  # recorded first: an interrupted purge leaves no unmarked hole
            why = "a purge deleted these oplog chunks: no kept archive replayed them"
            gap = Gap(stamp(after), stamp(resumed), iso(plan.now), why)
            write_bytes(storage, gap_key(gap), json.dumps(asdict(gap)).encode())
        for ref in plan.chunks:
            storage.destroy(ref.key + MANIFEST_SUFFIX)
            storage.destroy(ref.key)
            checkpoint("purge.chunk-deleted")
            result.chunks_deleted += 1
            result.freed_bytes += ref.size
        for key in plan.gaps:
            storage.delete(key)  # a record, not data: hidden is enough (its lock may outlast it)
    except StorageFault as error:
        result.skipped.append(("oplog chunks", f"{error}; the rest go next time"))
