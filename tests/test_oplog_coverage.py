"""Restorable time, RPO and the oplog's retention, from a storage laid out as a capture leaves it: base
archives (with manifests, written at the end of their runs), chunks committed by their manifests, a gap
record. No server: the chunks hold small no-op entries; which seconds can be reached depends only on the
layout, and tests/test_pitr.py restores through it on the bed."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.archive.catalog import list_archives
from engine.archive.holds import place_hold
from engine.pitr.coverage import compute_coverage, describe_window
from engine.pitr.store import list_chunk_refs
from engine.sla.retention import RetentionPolicy, apply_purge, make_plan
from engine.sla.status import summarize
from engine.storage import open_storage
from tests.helpers import run_vaultui
from tests.history import capture_history, oplog_ts
from vaultui.exit_codes import ExitCode

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def base(folder: Path, began: datetime, seconds: int = 120) -> str:
    """A base archive named for `began` whose manifest was written `seconds` later (the run's end)."""
    name = f"{began:%Y%m%dT%H%M%SZ}.tar.zst"
    (folder / name).write_bytes(b"archive")
    manifest = folder / f"{name}.manifest.json"
    manifest.write_text("{}")
    ended = (began + timedelta(seconds=seconds)).timestamp()
    os.utime(folder / name, (ended, ended))
    os.utime(manifest, (ended, ended))
    return name


GAP_FROM = NOW - 19 * DAY - timedelta(hours=1)  # the last entry captured before the hole
RESUMED = NOW - 17 * DAY - timedelta(hours=1)  # the first entry captured after it


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """Bases every 10 days from 100 days ago; the oplog captured in daily chunks from just before the base of
    40 days ago to 10 minutes ago, with a hole from GAP_FROM to RESUMED that the capture recorded."""
    for days in range(100, 0, -10):
        base(tmp_path, NOW - days * DAY)
    capture_history(tmp_path, NOW - 40 * DAY - timedelta(hours=1), NOW - timedelta(minutes=10), (GAP_FROM, RESUMED))
    return tmp_path


def close(moment: datetime | None, expected: datetime, within: timedelta = timedelta(minutes=3)) -> bool:
    return moment is not None and abs(moment - expected) <= within


def test_restorable_time_rpo_and_holes(layout: Path) -> None:
    storage = open_storage(str(layout))
    coverage = compute_coverage(storage, list_archives(storage), {}, NOW)
    assert coverage.capturing and len(coverage.gaps) == 1
    # Bases alone before the capture; then any second from the end of the base of 40 days ago to the gap;
    # the hole; then from the end of the first base after the gap (10 days ago) to the newest chunk.
    first, second = [span for span in coverage.spans if span.seconds > 0]
    assert close(first.start, NOW - 40 * DAY) and close(first.end, GAP_FROM)
    assert close(second.start, NOW - 10 * DAY) and close(second.end, NOW - timedelta(minutes=10))
    assert coverage.rpo_seconds(NOW) == pytest.approx(600, abs=2)
    # The last entry's own second is not whole (more entries may follow in it): the second before is.
    assert coverage.newest_to_the_second == NOW - timedelta(minutes=10, seconds=1)
    assert not coverage.contains(NOW - 15 * DAY)  # after the gap, before the next base: unreachable
    before, after = coverage.nearest(NOW - 15 * DAY)
    assert close(before, GAP_FROM) and close(after, NOW - 10 * DAY)
    assert 0.65 < coverage.share(NOW - 30 * DAY, NOW) < 0.72  # 11 days to the gap, then the last 10
    assert describe_window(coverage, NOW).startswith("any second from ")

    summary = summarize(storage, NOW)
    assert summary.rpo_limit == 300 and summary.rpo_exceeded  # 10 minutes behind a 5-minute threshold
    assert not summarize(storage, NOW, rpo_seconds=900).rpo_exceeded


def test_without_a_capture_only_the_archives_times_restore(tmp_path: Path) -> None:
    base(tmp_path, NOW - 2 * DAY)
    base(tmp_path, NOW - DAY)
    storage = open_storage(str(tmp_path))
    summary = summarize(storage, NOW)
    assert not summary.coverage.capturing and summary.rpo_limit is None and not summary.rpo_exceeded
    assert summary.rpo_seconds == pytest.approx(DAY.total_seconds() - 120)
    assert summary.restorable_share == 0
    assert "no oplog captured" in describe_window(summary.coverage, NOW)


def test_purge_keeps_the_oplog_kept_archives_replay_from(layout: Path) -> None:
    storage = open_storage(str(layout))
    before = list_chunk_refs(storage)
    plan = make_plan(storage, RetentionPolicy(max_age_days=25, keep_last=1), NOW)
    oldest_kept = min(decision.entry.ref.time for decision in plan.keepers)
    assert oldest_kept.date() == (NOW - 20 * DAY).date()
    assert plan.chunks and all(oplog_ts(oldest_kept, 0) >= ref.last for ref in plan.chunks)
    assert plan.chunks_kept == len(before) - len(plan.chunks)
    assert plan.gaps == []  # the gap lies after the oldest kept base's start: still says something
    result = apply_purge(storage, RetentionPolicy(max_age_days=25, keep_last=1), clock=lambda: NOW)
    assert result.chunks_deleted == len(plan.chunks)
    after = list_chunk_refs(storage)
    assert after == [ref for ref in before if ref not in plan.chunks]
    coverage = compute_coverage(storage, list_archives(storage), {}, NOW)
    assert coverage.contains(NOW - 5 * DAY) and coverage.contains(NOW - 20 * DAY + timedelta(hours=4))


def test_a_hold_keeps_its_archive_and_the_chunks_to_the_next_one(layout: Path) -> None:
    storage = open_storage(str(layout))
    held = next(entry for entry in list_archives(storage) if entry.ref.time.date() == (NOW - 40 * DAY).date())
    place_hold(storage, held.name, "audit")
    plan = make_plan(storage, RetentionPolicy(max_age_days=25, keep_last=1), NOW)
    kept = {ref.key for ref in list_chunk_refs(storage)} - {ref.key for ref in plan.chunks}
    reached = [ref for ref in list_chunk_refs(storage) if ref.key in kept]
    # From the held base to the next base (30 days ago) the chunks stay; from there to the oldest kept
    # base (20 days ago) they go.
    assert any(ref.last.time < (NOW - 30 * DAY).timestamp() for ref in reached)
    assert not any(
        (NOW - 29 * DAY).timestamp() < ref.first.time and ref.last.time < (NOW - 21 * DAY).timestamp()
        for ref in reached
    )
    # The chunks that go leave a hole in the middle: the purge records it as a gap, so restorable time does
    # not run across it.
    assert len(plan.holes) == 1
    apply_purge(storage, RetentionPolicy(max_age_days=25, keep_last=1), clock=lambda: NOW)
    coverage = compute_coverage(storage, list_archives(storage), {}, NOW)
    assert len(coverage.gaps) == 2 and not coverage.contains(NOW - 25 * DAY)
    assert coverage.contains(NOW - 39 * DAY) and coverage.contains(NOW - 5 * DAY)


def test_status_shows_the_window_and_fails_past_the_rpo(layout: Path) -> None:
    done = run_vaultui("--headless", "status", "--rpo", "86400", env={"VAULTUI_STORAGE": str(layout)})
    assert "restorable   any second from" in done.stdout and "1 gap\n" in done.stdout, done.stdout
    assert "  GAP " in done.stdout
    strict = run_vaultui("--headless", "status", "--rpo", "1", "--json", env={"VAULTUI_STORAGE": str(layout)})
    figures = json.loads(strict.stdout)["restorable"]
    assert figures["rpo_exceeded"] and figures["rpo_limit_seconds"] == 1 and figures["oplog_chunks"] > 30
    assert strict.returncode in (ExitCode.RPO_EXCEEDED, ExitCode.COMPLIANCE_BELOW_TARGET)


def test_the_monthly_report_gives_the_restorable_share(layout: Path) -> None:
    from engine.sla.compliance import Schedule
    from engine.sla.report import build_report, render

    report = build_report(
        open_storage(str(layout)), f"{NOW:%Y-%m}", schedule=Schedule(), policy=RetentionPolicy(), now=NOW
    )
    point = report["recovery_point"]
    assert point["oplog_captured"] and point["spans"] and 0 < point["share_of_month"] <= 1
    assert "Restorable to the second: " in render(report, "md")


def test_a_chunk_whose_manifest_never_came_is_swept_once_old(layout: Path) -> None:
    """A capture killed between a chunk and its manifest leaves the chunk: never read, and removed by the
    next backup's sweep once older than any run (never while a capture may still commit it)."""
    from engine.backup.run import sweep_unfinished

    orphan = layout / "oplog" / "1700000000.0000000001-1700000001.0000000001.bson.zst"
    orphan.write_bytes(b"cut short")
    fresh = layout / "oplog" / "1700000002.0000000001-1700000003.0000000001.bson.zst"
    fresh.write_bytes(b"being committed")
    old = (NOW - DAY).timestamp()
    os.utime(orphan, (old, old))
    storage = open_storage(str(layout))
    committed = len(list_chunk_refs(storage))
    swept = sweep_unfinished(storage, datetime.now(UTC))
    assert "oplog/" + orphan.name in swept["discarded_unfinished"]  # type: ignore[operator]
    assert not orphan.exists() and fresh.exists() and len(list_chunk_refs(storage)) == committed
