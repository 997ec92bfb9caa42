"""Retention adherence of one month, judged per archive from the ledger's facts of that month, never from
today's state: every archive whose limit fell due by the month's end (or today, for the month in progress)
and that still existed when the month began is either deleted (on time within a stated grace, late by how
much, or early) or kept past its limit, with the reason retention had for keeping it at the month's end (a
hold, keep-last, the newest good archive) or none (overdue: the purge did not do its job)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from engine.archive.catalog import ArchiveEntry
from engine.archive.format import ArchiveRef, parse_archive_name
from engine.archive.holds import Hold
from engine.common.states import PurgeAction, RunKind
from engine.evidence.ledger import RunRecord
from engine.sla.retention import RetentionPolicy, plan_purge

# The purge CronJob runs once a day: an archive crosses its limit at any hour and is deleted at the next run.
GRACE = timedelta(days=1)


class Verdict(StrEnum):
    ON_TIME = "on time"
    LATE = "LATE"
    EARLY = "EARLY"
    KEPT = "kept"  # past its limit with a reason retention keeps it for
    OVERDUE = "OVERDUE"  # past its limit and its grace, nothing keeping it, not deleted


@dataclass(frozen=True)
class ArchiveFate:
    archive: str
    taken: datetime
    due: datetime  # taken + the age limit
    deleted: datetime | None  # by a purge on record (None: not deleted by the month's end)
    verdict: Verdict
    detail: str  # "10.0 days late", "held (audit)", …

    @property
    def adherent(self) -> bool:
        return self.verdict in (Verdict.ON_TIME, Verdict.KEPT)


def deletions(runs: list[RunRecord]) -> dict[str, datetime]:
    """When each archive was deleted, by the first purge on record that deleted it."""
    found: dict[str, datetime] = {}
    for run in sorted((run for run in runs if run.kind == RunKind.PURGE), key=lambda run: run.started):
        for name in run.details.get("deleted") or []:
            found.setdefault(str(name), run.started)
    return found


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:.1f} days"


def judge_month(
    start: datetime,
    end: datetime,
    now: datetime,
    runs: list[RunRecord],
    entries: list[ArchiveEntry],
    holds: dict[str, Hold],
    policy: RetentionPolicy,
    verifications: dict[str, bool],
) -> list[ArchiveFate]:
    """The fate of every archive retention had to act on in [start, end), oldest first."""
    cutoff = min(end, now)
    limit = timedelta(days=policy.max_age_days)
    deleted = deletions(runs)
    existing = {entry.name: entry for entry in entries}
    refs: dict[str, ArchiveRef] = {entry.name: entry.ref for entry in entries}
    for name in deleted:
        if (ref := parse_archive_name(name)) is not None:
            refs.setdefault(name, ref)
    # What the storage held at the month's end: archives there now, and those deleted since.
    at_end = [
        existing.get(name) or ArchiveEntry(ref, 0, ref.time, has_manifest=not ref.legacy)
        for name, ref in refs.items()
        if ref.time < cutoff and not (name in deleted and deleted[name] < cutoff)
    ]
    kept_because = {
        decision.name: decision.reason
        for decision in plan_purge(at_end, holds, policy, cutoff, verifications).decisions
        if decision.action == PurgeAction.KEEP
    }
    fates = []
    for name, ref in sorted(refs.items(), key=lambda item: item[1].time):
        due, when = ref.time + limit, deleted.get(name)
        if when is not None and when < start:
            continue  # gone before the month began
        if when is not None and when < cutoff:
            if when < due:
                fates.append(ArchiveFate(name, ref.time, due, when, Verdict.EARLY, f"{_days(due - when)} early"))
            elif when - due <= GRACE:
                fates.append(ArchiveFate(name, ref.time, due, when, Verdict.ON_TIME, f"after {_days(when - ref.time)}"))
            else:
                fates.append(ArchiveFate(name, ref.time, due, when, Verdict.LATE, f"{_days(when - due)} late"))
        elif due + GRACE < cutoff:
            reason = kept_because.get(name, "")
            if reason and not reason.startswith("within"):
                fates.append(ArchiveFate(name, ref.time, due, None, Verdict.KEPT, reason))
            else:
                late = f"{_days(cutoff - due)} past its limit on {cutoff:%Y-%m-%d %H:%M} UTC, nothing keeping it"
                fates.append(ArchiveFate(name, ref.time, due, None, Verdict.OVERDUE, late))
    return fates
