"""Backup compliance: the schedule's expected slots over a window against successful backups in the ledger."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from engine.archive.format import parse_archive_name
from engine.common.config import DEFAULT_SCHEDULE, DEFAULT_TARGET_PERCENT, DEFAULT_WINDOW_DAYS
from engine.common.errors import ConfigError
from engine.common.states import RunKind, RunResult, SlotStatus
from engine.evidence.ledger import RunRecord
from engine.evidence.verifications import latest_verifications


@dataclass(frozen=True)
class Schedule:
    """When backups are expected: a cron expression read in a time zone (UTC unless told)."""

    cron: str = DEFAULT_SCHEDULE
    timezone: str = "UTC"

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {self.timezone!r}: use an IANA name like 'Europe/Paris'") from None

    def validate(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ConfigError(f"invalid cron expression {self.cron!r}: expected five fields, e.g. '0 0 * * *'")
        self.zone()

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        """Every scheduled start in [start, end)."""
        self.validate()
        iterator = croniter(self.cron, start.astimezone(self.zone()) - timedelta(seconds=1))
        times = []
        while (moment := iterator.get_next(datetime)) < end:
            if moment >= start:
                times.append(moment)
        return times

    def next_after(self, moment: datetime) -> datetime:
        self.validate()
        result: datetime = croniter(self.cron, moment.astimezone(self.zone())).get_next(datetime)
        return result


@dataclass
class Slot:
    """One expected backup: [start, end); pending while still open with nothing yet."""

    start: datetime
    end: datetime
    status: SlotStatus
    run: RunRecord | None = None
    cause: str = ""


@dataclass
class ComplianceReport:
    window_start: datetime
    window_end: datetime
    target_percent: float
    slots: list[Slot] = field(default_factory=list)
    last_success: datetime | None = None
    next_slot: datetime | None = None
    stale: bool = False

    @property
    def expected(self) -> int:
        return sum(1 for slot in self.slots if slot.status != SlotStatus.PENDING)

    @property
    def met(self) -> int:
        return sum(1 for slot in self.slots if slot.status == SlotStatus.MET)

    @property
    def missed(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.status == SlotStatus.MISSED]

    @property
    def percent(self) -> float | None:
        return None if not self.expected else 100.0 * self.met / self.expected

    @property
    def below_target(self) -> bool:
        return self.percent is not None and self.percent < self.target_percent

    def since(self, start: datetime) -> ComplianceReport:
        """The same report narrowed to the slots from `start` on (a dashboard loads 90 days for its strip and
        shows the configured window's figure)."""
        return ComplianceReport(
            max(start, self.window_start),
            self.window_end,
            self.target_percent,
            [slot for slot in self.slots if slot.start >= start],
            self.last_success,
            self.next_slot,
            self.stale,
        )


@dataclass(frozen=True)
class Evidence:
    """What a backup record must be backed by to meet its slot: its archive is in the storage (or a purge on
    record deleted it), was made in that slot, and verified (a backup's read-back counts). A record alone,
    forged or left behind by a deleted archive, meets nothing."""

    archives: frozenset[str]
    purged: frozenset[str]
    verified: dict[str, bool]

    @classmethod
    def from_runs(
        cls, archives: Iterable[str], runs: list[RunRecord], verified: dict[str, bool] | None = None
    ) -> Evidence:
        """From the ledger records (newest first); `verified` when latest_verifications(runs) is at hand."""
        purged = {
            str(name)
            for run in runs
            if run.kind == RunKind.PURGE
            for name in (run.details.get("deleted") or [])
            if isinstance(name, str)
        }
        verified = latest_verifications(runs) if verified is None else verified
        return cls(frozenset(archives), frozenset(purged), verified)

    def problem(self, run: RunRecord, slot_start: datetime, slot_end: datetime) -> str:
        """Why a successful backup record does not meet its slot, or "" when it does."""
        ref = parse_archive_name(run.archive or "")
        if ref is None:
            return "its record names no archive"
        if not slot_start - timedelta(seconds=1) <= ref.time < slot_end:
            return f"its archive {ref.name} is not from this slot"
        if ref.name not in self.archives and ref.name not in self.purged:
            return f"its archive {ref.name} is gone, and no purge on record deleted it"
        verified = self.verified.get(ref.name)
        if verified is None:
            return f"its archive {ref.name} was never verified (verify it)"
        return "" if verified else f"its archive {ref.name} failed verification"


def compute_compliance(
    runs: list[RunRecord],
    schedule: Schedule,
    now: datetime,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    target_percent: float = DEFAULT_TARGET_PERCENT,
    evidence: Evidence | None = None,
) -> ComplianceReport:
    """A slot is met when a successful backup *started* inside it, and (given `evidence`) its archive backs
    it up; a late run that starts after the next scheduled time counts for that next slot. The slot still
    open at `now` is pending unless already met."""
    if window_days < 1:
        raise ConfigError(f"the compliance window must be at least 1 day, not {window_days}")
    end = min(window_end or now, now)
    start = window_start or end - timedelta(days=window_days)
    backups = sorted((run for run in runs if run.kind == RunKind.BACKUP), key=lambda run: run.started)
    starts = [run.started for run in backups]
    fires = schedule.fire_times(start, end)
    report = ComplianceReport(start, end, target_percent, next_slot=schedule.next_after(now))
    for index, slot_start in enumerate(fires):
        slot_end = fires[index + 1] if index + 1 < len(fires) else schedule.next_after(slot_start)
        inside = backups[bisect.bisect_left(starts, slot_start) : bisect.bisect_left(starts, slot_end)]
        successes = [run for run in inside if run.succeeded]
        problems = [evidence.problem(run, slot_start, slot_end) if evidence else "" for run in successes]
        success = next((run for run, problem in zip(successes, problems, strict=True) if not problem), None)
        if success is not None:
            report.slots.append(Slot(slot_start, slot_end, SlotStatus.MET, success))
        elif slot_end > now and not successes:
            report.slots.append(Slot(slot_start, slot_end, SlotStatus.PENDING))
        elif successes:
            cause = f"the backup at {successes[-1].started:%Y-%m-%d %H:%M} succeeded but {problems[-1]}"
            report.slots.append(Slot(slot_start, slot_end, SlotStatus.MISSED, successes[-1], cause))
        else:
            failure = next((run for run in reversed(inside) if run.result == RunResult.FAILURE), None)
            cause = f"failed at {failure.started:%Y-%m-%d %H:%M}: {failure.error}" if failure else "no backup ran"
            report.slots.append(Slot(slot_start, slot_end, SlotStatus.MISSED, failure, cause))
    succeeded = [run.started for run in backups if run.succeeded and run.started <= now]
    report.last_success = succeeded[-1] if succeeded else None
    closed = [slot for slot in report.slots if slot.end <= now]
    report.stale = bool(closed) and (report.last_success is None or report.last_success < closed[-1].start)
    return report
