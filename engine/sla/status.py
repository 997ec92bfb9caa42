"""One summary of the storage's state for `status`, the dashboard and metrics: compliance, archives, purge
and recovery figures, all read from one listing and the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.archive.catalog import ArchiveEntry, list_archives
from engine.archive.encryption import IDENTITIES
from engine.archive.holds import read_holds
from engine.common.config import DEFAULT_RPO_SECONDS, DEFAULT_TARGET_PERCENT, DEFAULT_WINDOW_DAYS
from engine.common.errors import VaultError
from engine.common.states import NOT_A_RECOVERY, ArchiveState, RunKind
from engine.evidence.lease import LeaseInfo, read_leases
from engine.evidence.ledger import LedgerCheck, RunRecord, check_chain, read_raw, read_runs, run_listing, select_keys
from engine.evidence.ledger_cache import read_cached
from engine.evidence.verifications import archive_state, evidence_keys, latest_verifications
from engine.pitr.coverage import Coverage, compute_coverage
from engine.sla.compliance import (
    ComplianceReport,
    Evidence,
    Schedule,
    compute_compliance,
)
from engine.sla.forecast import RtoForecast, forecast_newest
from engine.sla.retention import PurgePlan, RetentionPolicy, plan_purge
from engine.sla.rto import DEFAULT_RTO_SECONDS
from engine.storage import IGNORED_REASON, ObjectInfo, Storage, ignored_names


@dataclass
class StatusSummary:
    now: datetime
    compliance: ComplianceReport
    archives: list[ArchiveEntry]
    runs: list[RunRecord]
    purge_plan: PurgePlan
    rto_seconds: float
    unfinished: list[ObjectInfo] = field(default_factory=list)  # writes of killed (or running) runs
    verifications: dict[str, bool] = field(default_factory=dict)  # archive -> newest verification passed
    leases: list[LeaseInfo] = field(default_factory=list)  # runs holding the storage, live or dead
    broken: list[str] = field(default_factory=list)  # ledger records and hold files skipped as unreadable
    ledger: LedgerCheck | None = None  # the chain over the window's records
    coverage: Coverage = field(default_factory=Coverage)  # restorable time: archives and the captured oplog
    rpo_limit: float | None = None  # the recovery-point threshold in force (None: none applies)
    window_days: int = DEFAULT_WINDOW_DAYS
    # Encrypted archives that no configured age identity opens (after a key rotation, say): None when no
    # identity is configured here (the backup's own pod holds only public keys), so none was checked.
    unopenable: list[str] | None = None
    forecast: RtoForecast | None = None  # the newest good archive's restore time, and when it passes the RTO

    @property
    def rpo_seconds(self) -> float | None:
        return self.coverage.rpo_seconds(self.now)

    @property
    def rpo_exceeded(self) -> bool:
        """More would be lost than the threshold allows (nothing restorable at all counts as exceeded)."""
        if self.rpo_limit is None:
            return False
        rpo = self.rpo_seconds
        return rpo is None or rpo > self.rpo_limit

    @property
    def restorable_share(self) -> float:
        """The fraction of the compliance window a restore can reach to the second."""
        return self.coverage.share(self.now - timedelta(days=self.window_days), self.now)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.archives)

    @property
    def newest(self) -> ArchiveEntry | None:
        return self.archives[0] if self.archives else None

    @property
    def oldest(self) -> ArchiveEntry | None:
        return self.archives[-1] if self.archives else None

    @property
    def interrupted_restores(self) -> list[LeaseInfo]:
        """Restores that died before they finished (their shared lease outlived them)."""
        return [lease for lease in self.leases if lease.kind == RunKind.RESTORE and lease.expired(self.now)]

    def state(self, entry: ArchiveEntry) -> ArchiveState:
        """The archive's one state, as `list` and the dashboard show it."""
        return archive_state(entry, self.verifications)

    def last(self, kind: str) -> RunRecord | None:
        return next((run for run in self.runs if run.kind == kind and run.result not in NOT_A_RECOVERY), None)

    @property
    def next_purge(self) -> datetime | None:
        """When the next archive becomes a purge candidate (now, when some already are)."""
        if self.purge_plan.deletions:
            return self.now
        days = [decision.purge_in_days for decision in self.purge_plan.keepers if decision.purge_in_days is not None]
        return self.now + timedelta(days=min(days)) if days else None

    @property
    def healthy(self) -> bool:
        return not self.compliance.below_target and not self.compliance.stale and not self.rpo_exceeded


def summarize(
    storage: Storage,
    now: datetime,
    *,
    schedule: Schedule | None = None,
    policy: RetentionPolicy | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    target_percent: float = DEFAULT_TARGET_PERCENT,
    rto_seconds: float = DEFAULT_RTO_SECONDS,
    rpo_seconds: float | None = None,
    archives: list[ArchiveEntry] | None = None,
) -> StatusSummary:
    """`rpo_seconds`: the recovery-point threshold; without one, DEFAULT_RPO_SECONDS applies once the oplog
    is captured here (before that, the nightly archives make the RPO a day by design)."""
    # Only the window's backups (plus a day, for the slot that straddles its start) and recent other runs.
    listing = run_listing(storage)  # one listing, then only the records the summary needs are read
    keys = sorted(listing, reverse=True)
    chosen = select_keys(keys, RunKind.BACKUP, since=now - timedelta(days=window_days + 1))
    for kind in (RunKind.RESTORE, RunKind.DRILL, RunKind.PURGE):
        chosen += select_keys(keys, kind, limit=50)
    chosen += select_keys(keys, RunKind.OPLOG, limit=5)  # the capture's recent rate: the forecast's replay
    already = set(chosen)
    chosen += [key for key in evidence_keys(keys) if key not in already]  # the same evidence `list` reads
    # The chain is checked over the window's records (all kinds), read once with those the summary needs.
    span = select_keys(keys, None, since=now - timedelta(days=window_days + 1))
    wanted = sorted(set(chosen) | set(span), reverse=True)
    raw = read_cached(storage, [listing[key] for key in wanted], read_raw)  # records never change: kept locally
    broken: list[str] = []
    runs = read_runs(storage, chosen, broken, raw)
    ledger = check_chain({key: raw[key] for key in span if key in raw}, set(keys))
    verifications = latest_verifications(runs)
    entries = list_archives(storage) if archives is None else archives  # `archives`: a listing just made
    compliance = compute_compliance(
        runs,
        schedule or Schedule(),
        now,
        window_days=window_days,
        target_percent=target_percent,
        evidence=Evidence.from_runs((entry.name for entry in entries), runs, verifications),
    )
    holds = read_holds(storage, entries)
    broken += [hold.reason for hold in holds.values() if hold.unreadable]
    plan = plan_purge(entries, holds, policy or RetentionPolicy(), now, verifications)
    coverage = compute_coverage(storage, entries, verifications, now)
    if rpo_seconds is None and coverage.capturing:
        rpo_seconds = DEFAULT_RPO_SECONDS
    summary = StatusSummary(
        now,
        compliance,
        entries,
        runs,
        plan,
        rto_seconds,
        storage.unfinished_writes(now),
        verifications,
        read_leases(storage),
        broken,
        ledger,
        coverage,
        rpo_seconds,
        window_days,
    )
    try:
        summary.unopenable = unopenable_archives(storage, entries)
    except VaultError as error:  # an unreadable identity file: said, and the rest of the summary stands
        summary.broken.append(f"age identities: {error}")
    summary.forecast = forecast_newest(runs, entries, verifications, rto_seconds, now, coverage.capturing)
    # Last, once every listing of the summary has run: what they left out for names that are not UTF-8.
    summary.broken += [f"{name}: {IGNORED_REASON}" for name in ignored_names(storage)]
    return summary


def unopenable_archives(storage: Storage, entries: list[ArchiveEntry]) -> list[str] | None:
    """Encrypted archives whose manifest names no recipient of the configured identities (one manifest read
    each, only where identities are configured). An unreadable manifest is counted elsewhere (broken)."""
    keys = IDENTITIES.public_keys()
    if keys is None:
        return None
    unopenable = []
    for entry in entries:
        if not entry.ref.encrypted or not entry.has_manifest:
            continue
        try:
            manifest = entry.manifest(storage)
        except VaultError:
            continue
        if manifest is not None and not keys & set(manifest.recipients):
            unopenable.append(entry.name)
    return unopenable
