"""Compliance and retention over 120 simulated nights (injected clock), with exact expected numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.archive.holds import Hold
from engine.common.errors import ConfigError
from engine.sla.compliance import Evidence, Schedule, compute_compliance
from engine.sla.retention import RetentionPolicy, plan_purge
from tests.history import NOW, archives_of, nightly_runs, record


def test_thirty_day_window_counts_failed_missing_late_and_retried_nights() -> None:
    report = compute_compliance(nightly_runs(), Schedule(), NOW, window_days=30)
    # Slots 2026-10-27 … 2026-11-25 (today's already met): 30 expected. Missed: 11-03 and 11-18 failed,
    # 11-05 and 11-10 had no run (11-05's run started after midnight, so it counts for 11-06).
    assert (report.expected, report.met) == (30, 26)
    assert report.percent == pytest.approx(86.6667, abs=1e-4)
    assert report.below_target and not report.stale
    assert [(slot.start.strftime("%m-%d"), slot.cause) for slot in report.missed] == [
        ("11-03", "failed at 2026-11-03 00:05: cannot reach MongoDB at db-0:27017"),
        ("11-05", "no backup ran"),
        ("11-10", "no backup ran"),
        ("11-18", "failed at 2026-11-18 00:05: cannot reach MongoDB at db-0:27017"),
    ]
    assert report.last_success == datetime(2026, 11, 25, 0, 5, tzinfo=UTC)
    assert report.next_slot == datetime(2026, 11, 26, tzinfo=UTC)


def test_hundred_twenty_day_window() -> None:
    report = compute_compliance(nightly_runs(), Schedule(), NOW, window_days=120)
    # Slots 2026-07-29 … 2026-11-25: 120. Missed: the four above, plus 08-15 (no run) and 09-10 (failed).
    assert (report.expected, report.met) == (120, 114)
    assert report.percent == pytest.approx(95.0)


def test_before_tonights_backup_the_open_slot_is_pending_and_a_missed_night_is_stale() -> None:
    runs = [run for run in nightly_runs() if run.started < datetime(2026, 11, 24, tzinfo=UTC)]
    report = compute_compliance(runs, Schedule(), NOW, window_days=30)
    assert report.slots[-1].status == "pending"
    assert report.expected == 29 and report.slots[-2].cause == "no backup ran"
    assert report.stale  # 11-24 passed without a success


def test_time_zone_moves_the_slots() -> None:
    schedule = Schedule("0 2 * * *", "Europe/Paris")
    [first, *_] = schedule.fire_times(NOW - timedelta(days=1), NOW)
    assert first == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Schedule("every night"), "invalid cron expression"),
        (Schedule("0 0 * * *", "Mars/Olympus"), "unknown time zone"),
    ],
)
def test_bad_schedules(schedule: Schedule, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        compute_compliance([], schedule, NOW)


def test_retention_over_the_same_history_with_a_hold() -> None:
    entries = archives_of(nightly_runs())
    held = next(entry for entry in entries if entry.ref.time.date().isoformat() == "2026-08-01")
    policy = RetentionPolicy(keep_last=1)  # the age limit alone (keep-last is tested below)
    plan = plan_purge(entries, {held.name: Hold(held.name, "incident 2026-08-01", "")}, policy, NOW)
    deleted = {decision.entry.ref.time.date().isoformat() for decision in plan.deletions}
    # Older than 90 days means taken before 2026-08-27 12:00: the nights 07-28 … 08-27 (31), less the missing
    # 08-15 and the held 08-01.
    assert len(deleted) == 31 - 1 - 1 and "2026-08-01" not in deleted
    assert "2026-08-27" in deleted and "2026-08-28" not in deleted
    reasons = {decision.entry.ref.time.date().isoformat(): decision.reason for decision in plan.decisions}
    assert reasons["2026-08-01"] == "held (incident 2026-08-01)"
    assert reasons["2026-07-28"].endswith(" old, older than the 90-day limit")
    assert reasons["2026-11-25"] == "newest complete (manifest, not re-verified) archive"
    assert reasons["2026-11-24"] == "within 90 days"
    purge_in = {decision.entry.ref.time.date().isoformat(): decision.purge_in_days for decision in plan.keepers}
    assert purge_in["2026-08-28"] == 1 and purge_in["2026-11-24"] == 89


def test_keep_last_keeps_the_newest_even_past_the_age_limit() -> None:
    entries = archives_of(nightly_runs())
    plan = plan_purge(entries, {}, RetentionPolicy(max_age_days=10, keep_last=15), NOW)
    keepers = [decision for decision in plan.keepers]
    assert len(keepers) == 15
    assert (
        keepers[1].reason == "keep-last 15"
        and keepers[0].reason == "newest complete (manifest, not re-verified) archive"
    )


def test_backups_failing_for_a_hundred_days_keep_the_last_good_archive() -> None:
    runs = nightly_runs()
    cutoff = NOW - timedelta(days=100)
    good = archives_of([run for run in runs if run.started < cutoff])
    plan = plan_purge(good, {}, RetentionPolicy(), NOW)
    newest = sorted(good, key=lambda entry: entry.ref.time, reverse=True)[:3]  # the default keeps 3 newest good
    assert [decision.entry for decision in plan.keepers] == newest
    assert [decision.reason for decision in plan.keepers] == [
        "newest complete (manifest, not re-verified) archive",
        "keep-last 3",
        "keep-last 3",
    ]


def test_a_corrupt_newest_archive_never_lets_the_good_older_ones_go() -> None:
    """Backups failed for 100 days, and the newest archive left fails verification: it is not the one kept;
    the newest archive that did not fail is, although it is past the age limit."""
    runs = nightly_runs()
    good = archives_of([run for run in runs if run.started < NOW - timedelta(days=100)])
    newest, second = sorted(good, key=lambda entry: entry.ref.time, reverse=True)[:2]
    plan = plan_purge(good, {}, RetentionPolicy(keep_last=1), NOW, {newest.name: False, second.name: True})
    [kept] = plan.keepers
    assert kept.entry == second and kept.reason == "newest verified archive"
    assert newest.name in {decision.name for decision in plan.deletions}


def test_incomplete_and_legacy_archives() -> None:
    from engine.archive.catalog import ArchiveEntry
    from engine.archive.format import parse_archive_name

    def entry(name: str, manifest: bool) -> ArchiveEntry:
        ref = parse_archive_name(name)
        assert ref is not None
        return ArchiveEntry(ref, 10, ref.time, manifest)

    legacy_old, legacy_new = entry("20260101.tar.gz", False), entry("20260201.tar.gz", False)
    broken = entry("20260301T000000Z.tar.gz", False)
    plan = plan_purge([legacy_old, legacy_new, broken], {}, RetentionPolicy(keep_last=1), NOW)
    fates = {decision.name: (decision.action, decision.reason) for decision in plan.decisions}
    assert fates["20260201.tar.gz"] == ("keep", "newest restorable (legacy, unverified) archive")
    assert fates["20260101.tar.gz"][0] == fates["20260301T000000Z.tar.gz"][0] == "delete"


def test_bad_retention_numbers() -> None:
    with pytest.raises(ConfigError, match="at least 1 day"):
        plan_purge([], {}, RetentionPolicy(max_age_days=-5), NOW)
    with pytest.raises(ConfigError, match="keep-last must be 1 or more"):
        plan_purge([], {}, RetentionPolicy(keep_last=0), NOW)
    assert record  # the shared history helper stays importable for other tests


def test_a_slot_is_met_by_evidence_not_by_a_record() -> None:
    """Forged or orphaned success records meet nothing: the archive must exist (or a purge on record deleted
    it), be from that slot, and have verified."""
    runs = nightly_runs()
    successes = [run for run in runs if run.kind == "backup" and run.succeeded]
    kept, purged, corrupt, unverified = successes[-1], successes[-2], successes[-3], successes[-4]
    present = {kept.archive, corrupt.archive, unverified.archive}
    unverified.details.pop("read_back")
    purge = record("purge", NOW - timedelta(hours=1), "success", deleted=[purged.archive])
    failed_verify = record("verify", NOW - timedelta(hours=2), "failure", error="sha256 does not match")
    failed_verify.archive = corrupt.archive
    history = [*runs, purge, failed_verify]
    history.sort(key=lambda run: run.started, reverse=True)  # newest first, as the ledger reads them
    evidence = Evidence.from_runs({name for name in present if name}, history)
    report = compute_compliance(history, Schedule(), NOW, window_days=30, evidence=evidence)
    causes = {slot.run.archive: slot.cause for slot in report.slots if slot.run is not None}
    assert causes[kept.archive] == "" and causes[purged.archive] == ""
    assert "failed verification" in causes[corrupt.archive]
    assert "was never verified" in causes[unverified.archive]
    gone = [slot for slot in report.missed if "is gone, and no purge on record deleted it" in slot.cause]
    assert report.met == 2 and len(gone) == report.expected - 2 - 2 - len(
        [slot for slot in report.missed if slot.run is None or not slot.run.succeeded]
    )


def test_forged_records_of_one_archive_meet_one_slot_at_most() -> None:
    """31 forged success records naming the one archive in the storage: one slot is met, not 31."""
    real = record("backup", NOW - timedelta(days=1, hours=-1), "success")
    forged = [record("backup", NOW - timedelta(days=days, hours=-1), "success") for days in range(2, 32)]
    for run in forged:
        run.archive = real.archive
    runs = sorted([real, *forged], key=lambda run: run.started, reverse=True)
    evidence = Evidence.from_runs({real.archive or ""}, runs)
    report = compute_compliance(runs, Schedule(), NOW, window_days=30, evidence=evidence)
    assert report.met == 1 and report.expected == 29  # the slot open at NOW is pending
    assert all("is not from this slot" in slot.cause for slot in report.missed)
