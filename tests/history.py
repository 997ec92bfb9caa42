"""A fixed, hand-checkable history of nightly backups for compliance, retention and report tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.archive import parse_archive_name
from engine.catalog import ArchiveEntry
from engine.ledger import RunRecord

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIRST_DAY = datetime(2026, 7, 28, tzinfo=UTC)  # 121 nightly slots up to and including NOW's day
FAILED = {"2026-09-10", "2026-11-03", "2026-11-18"}
MISSING = {"2026-08-15", "2026-11-10", "2026-11-05"}
LATE = {"2026-11-12": timedelta(hours=23, minutes=50)}  # still inside its own slot: met
# The 11-05 run started after the next slot had begun: it counts for 11-06, so 11-05 is missed.
NEXT_DAY = {"2026-11-05": timedelta(days=1, minutes=30)}
RETRIED = {"2026-11-20"}  # failed at 00:05, succeeded at 02:00: met


def record(
    kind: str, started: datetime, result: str, error: str | None = None, seconds: float = 60.0, **details: object
) -> RunRecord:
    if kind == "backup" and result == "success":
        details.setdefault("read_back", True)  # the backup re-read its archive: evidence it is good
    return RunRecord(
        kind,
        started.isoformat(),
        (started + timedelta(seconds=seconds)).isoformat(),
        result,
        archive=started.strftime("%Y%m%dT%H%M%SZ") + ".tar.zst" if kind == "backup" else None,
        duration_seconds=seconds,
        error=error,
        details=dict(details),
    )


def nightly_runs() -> list[RunRecord]:
    runs = []
    day = FIRST_DAY
    while day <= NOW:
        key = day.strftime("%Y-%m-%d")
        if key in FAILED:
            runs.append(record("backup", day + timedelta(minutes=5), "failure", "cannot reach MongoDB at db-0:27017"))
        elif key in NEXT_DAY:
            runs.append(record("backup", day + NEXT_DAY[key], "success"))
        elif key in RETRIED:
            runs.append(record("backup", day + timedelta(minutes=5), "failure", "S3 denied permission to write"))
            runs.append(record("backup", day + timedelta(hours=2), "success"))
        elif key not in MISSING:
            runs.append(record("backup", day + LATE.get(key, timedelta(minutes=5)), "success"))
        day += timedelta(days=1)
    return runs


def archives_of(runs: list[RunRecord]) -> list[ArchiveEntry]:
    entries = []
    for run in runs:
        if run.kind == "backup" and run.succeeded and run.archive:
            ref = parse_archive_name(run.archive)
            assert ref is not None
            entries.append(ArchiveEntry(ref, 1_000_000, ref.time, has_manifest=True))
    return entries
