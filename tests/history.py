"""A fixed, hand-checkable history of nightly backups for compliance, retention and report tests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bson
from bson import Timestamp

from engine.archive.catalog import ArchiveEntry
from engine.archive.format import parse_archive_name
from engine.evidence.ledger import RunRecord
from engine.pitr.chunks import write_chunk
from engine.pitr.store import Gap, gap_key
from engine.storage import open_storage, write_bytes

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
        id=hashlib.sha1(f"{kind} {started.isoformat()} {result}".encode()).hexdigest()[:12],  # same in every run
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


def oplog_ts(moment: datetime, inc: int = 1) -> Timestamp:
    return Timestamp(int(moment.timestamp()), inc)


def oplog_chunk(folder: Path, after: datetime, start: datetime, end: datetime, every: timedelta) -> None:
    """A committed chunk of no-op entries from `start` to `end` (one at each end), covering after `after`:
    what a capture leaves, for tests of what the storage says (no server involved)."""
    moments = []
    moment = start
    while moment < end:
        moments.append(moment)
        moment += every
    moments.append(end)
    entries = [bson.encode({"ts": oplog_ts(moment), "op": "n", "ns": "", "o": {"msg": "tick"}}) for moment in moments]
    write_chunk(open_storage(str(folder)), entries, oplog_ts(after))


def oplog_gap(folder: Path, after: datetime, resumed: datetime) -> None:
    """A gap record as the capture writes it when the oplog rolled past its resume point."""
    record = Gap(f"{oplog_ts(after).time:010d}.{1:010d}", f"{oplog_ts(resumed).time:010d}.{1:010d}", NOW.isoformat())
    write_bytes(open_storage(str(folder)), gap_key(record), json.dumps(record.__dict__).encode())


def capture_history(folder: Path, start: datetime, end: datetime, hole: tuple[datetime, datetime] | None) -> None:
    """Daily chunks from `start` to `end`, with `hole` (last entry before it, first after it) recorded as a gap."""
    after = start
    stop = hole[0] if hole else end
    while after < stop:
        last = min(after + timedelta(days=1), stop)
        oplog_chunk(folder, after, after + timedelta(seconds=1), last, timedelta(hours=6))
        after = last
    if hole is None:
        return
    oplog_gap(folder, hole[0], hole[1])
    after = hole[1] - timedelta(seconds=1)
    while after < end:
        last = min(after + timedelta(days=1), end)
        oplog_chunk(folder, after, after + timedelta(seconds=1), last, timedelta(hours=6))
        after = last


def write_backup(storage, run: RunRecord, size: int) -> None:  # noqa: ANN001 - any Storage
    """The archive and manifest a successful backup run left (bytes of the given size, not a real tar)."""
    from dataclasses import asdict

    from engine.archive.manifest import CollectionEntry, Manifest

    assert run.archive
    write_bytes(storage, run.archive, b"x" * size)
    manifest = Manifest(
        archive=run.archive,
        stamp=run.archive.split(".")[0],
        codec="zstd",
        archive_bytes=size,
        archive_sha256="ab" * 32,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_seconds=run.duration_seconds,
        server_version="7.0.14",
        dumper="native",
        tool_version="vaultui 0.1.0",
        collections=[CollectionEntry("shop", "orders", documents=1200, bson_bytes=160_000)],
    )
    write_bytes(storage, f"{run.archive}.manifest.json", json.dumps(asdict(manifest)).encode())
