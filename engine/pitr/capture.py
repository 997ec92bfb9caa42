"""Continuous oplog capture into the archive storage: point-in-time recovery's input (engine.pitr.chunks
writes and reads the chunks).

The capture tails `local.oplog.rs` with a tailable-await cursor and writes chunks of raw entries,
`oplog/<first>-<last>.bson.zst` (zstd over concatenated BSON: mongodump's `oplog.bson` format inside), each
with a sidecar `<chunk>.manifest.json` written last (count, first/last timestamp, sha256). A chunk without
its manifest was cut short by a kill and is never read. A capture resumes after the last committed chunk, so
nothing is lost or doubled. When the oplog no longer reaches back to that point (the capture was down longer
than the oplog's window), the hole is recorded as a gap, `oplog/gaps/<from>-<to>.json`, and the capture goes
on from the oldest entry there is."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pymongo
from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.cursor import CursorType
from pymongo.errors import PyMongoError

from engine.archive.encryption import parse_recipients
from engine.common.clock import iso, utc_now
from engine.common.errors import NoOplog, SourceError
from engine.common.namespaces import only_vaultui_entry
from engine.common.states import ArchiveStatus, RunKind, RunResult
from engine.evidence.ledger import RunRecord, describe_failure, try_record_run
from engine.pitr.chunks import write_chunk
from engine.pitr.store import (
    ROLLED_OVER,
    ChunkManifest,
    Gap,
    gap_key,
    list_chunk_refs,
    stamp,
)
from engine.storage import Storage, write_bytes

DEFAULT_FLUSH_SECONDS = 60.0
DEFAULT_FLUSH_BYTES = 64 * 1024 * 1024
_RAW = CodecOptions(document_class=RawBSONDocument)


@dataclass
class CaptureStats:
    chunks: int = 0
    entries: int = 0
    bytes: int = 0  # compressed, as stored
    gaps: int = 0
    lag_seconds: float = 0.0  # newest entry committed vs the clock, at the last flush
    max_lag_seconds: float = 0.0
    first: str = ""  # stamp() of the first and last entries committed
    last: str = ""
    reconnects: int = 0


def oplog_collection(client: pymongo.MongoClient[Any]) -> Any:
    if "oplog.rs" not in client.local.list_collection_names(filter={"name": "oplog.rs"}):
        raise NoOplog(
            "this MongoDB has no oplog (local.oplog.rs): it is a standalone server. Run it as a replica set "
            "(--replSet rs0, then rs.initiate()) to capture the oplog"
        )
    return client.local.get_collection("oplog.rs", codec_options=_RAW)


def logs_commands(client: pymongo.MongoClient[Any]) -> bool:
    """Whether the server's oplog holds commands (drops, renames, index builds). MongoDB's does; FerretDB 1.x
    keeps only inserts, updates and deletes, and says it is FerretDB in buildInfo."""
    try:
        return "ferretdbVersion" not in client.admin.command("buildInfo")
    except PyMongoError:
        return True  # unknown: MongoDB's behaviour is the one to assume


# A capture rides out a server that goes away (a restart, an election) for about this long, retrying with a
# growing pause; past it, it fails (and its Deployment restarts it).
RECONNECT_SECONDS = 300.0
# A tailable getMore waits up to a second for new entries; one unanswered for this long is a hung server or
# connection (seen on FerretDB, which may hold an awaiting getMore for good): reconnect rather than stall.
GETMORE_SECONDS = 30.0


class _Capture:
    """One capture process: the resume point, the buffer of the next chunk, and its ledger records (one per
    UTC day and one when it stops: a record per chunk would be 1,440 a day)."""

    def __init__(
        self,
        client: pymongo.MongoClient[Any],
        storage: Storage,
        stats: CaptureStats,
        on_flush: Callable[[ChunkManifest, CaptureStats], None] | None,
        clock: Callable[[], datetime],
        recipients: tuple[str, ...] = (),
    ) -> None:
        self.oplog = oplog_collection(client)
        self.logs_commands = logs_commands(client)
        self.left_out = 0  # vaultui's own entries skipped since the last chunk
        self.recipients = recipients
        self.storage = storage
        self.stats = stats
        self.on_flush = on_flush
        self.clock = clock
        refs = list_chunk_refs(storage)
        self.started_empty = False
        self.resume = refs[-1].last if refs else self._first_start()
        # A first capture's resume point is a time, not an entry (see _first_start) until it reads one.
        self.exact = bool(refs)
        self.covered = self.resume  # the chunks of this capture cover everything after this point
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.stretch = CaptureStats()  # what the next ledger record reports
        self.stretch_began = clock()

    def _ends(self) -> tuple[Timestamp | None, Timestamp | None]:
        # A PyMongoError goes to the caller: at start it is a source error, while capturing a reconnection.
        oldest = next(iter(self.oplog.find({}, {"ts": 1}).sort("$natural", 1).limit(1)), None)
        newest = next(iter(self.oplog.find({}, {"ts": 1}).sort("$natural", -1).limit(1)), None)
        return (oldest["ts"] if oldest else None), (newest["ts"] if newest else None)

    def _first_start(self) -> Timestamp:
        # A first capture starts at the newest base archive, so that it can be rolled forward at once; the
        # oplog may not reach back that far (then from its oldest entry), and without a base, from now.
        oldest, newest = self._ends()
        # An empty oplog at the first start: every entry it gets from now on is a new write, so the first one
        # found later is no sign of a rollover (the demo's fresh oplog showed a gap at its first minute).
        self.started_empty = oldest is None
        resume = newest_base_start(self.storage) or newest or Timestamp(int(time.time()), 0)
        if oldest is not None and oldest.time > resume.time:
            # The oplog begins after the base's start second: entries may have rolled off, so this capture
            # covers only from its oldest entry on. (Within that second it began with the base's own writes.)
            resume = _before(oldest)
        return resume

    def check_rollover(self) -> None:
        """Before every cursor: when the oplog no longer reaches the resume point, the hole
        is recorded as a gap and the capture goes on from the oldest entry there is."""
        oldest, _ = self._ends()
        if oldest is None or oldest <= self.resume or _before(oldest) == self.resume:
            return  # the resume point is still there (or the oldest entry is the very next one)
        if not self.exact and self.started_empty:
            self.resume = _before(oldest)  # the first entries since an empty start: nothing was lost before them
            return
        if not self.exact and oldest.time <= self.resume.time:
            return  # a time within the oldest entry's second: that second's entries are all still there
        self.flush()
        gap = Gap(stamp(self.resume), stamp(oldest), iso(self.clock()), ROLLED_OVER)
        write_bytes(self.storage, gap_key(gap), json.dumps(asdict(gap)).encode())
        self.stats.gaps += 1
        self.stretch.gaps += 1
        self.resume = self.covered = _before(oldest)

    def add(self, entry: RawBSONDocument) -> None:
        self.resume = entry["ts"]
        self.exact = True
        if only_vaultui_entry(entry):  # a staging load, a drill: never user data, never replayed
            self.left_out += 1
            return
        self.buffer.append(bytes(entry.raw))  # bytes already: RawBSONDocument keeps what it was given
        self.buffered += len(entry.raw)

    def flush(self) -> None:
        if not self.buffer:
            return
        manifest = write_chunk(
            self.storage,
            self.buffer,
            self.covered,
            self.recipients,
            logs_commands=self.logs_commands,
            left_out=self.left_out,
        )
        self.covered = manifest.last_ts
        self.buffer, self.buffered, self.left_out = [], 0, 0
        lag = max(0.0, self.clock().timestamp() - manifest.last_ts.time)
        for stats in (self.stats, self.stretch):
            stats.chunks += 1
            stats.entries += manifest.count
            stats.bytes += manifest.bytes
            stats.lag_seconds = lag
            stats.max_lag_seconds = max(stats.max_lag_seconds, lag)
            stats.first = stats.first or manifest.first
            stats.last = manifest.last
        if self.on_flush is not None:
            self.on_flush(manifest, self.stats)
        if self.clock().date() != self.stretch_began.date():
            self.record(None)

    def record(self, error: BaseException | None) -> None:
        """The ledger record of the stretch since the last one (skipped when nothing happened in it)."""
        if error is None and not self.stretch.chunks and not self.stretch.gaps:
            return
        run = RunRecord(
            RunKind.OPLOG,
            iso(self.stretch_began),
            iso(self.clock()),
            RunResult.FAILURE if error is not None or self.stretch.gaps else RunResult.SUCCESS,
            bytes=self.stretch.bytes,
            documents=self.stretch.entries,
            duration_seconds=round((self.clock() - self.stretch_began).total_seconds(), 3),
            error=describe_failure(error, [])
            if error is not None
            else (f"{self.stretch.gaps} gap(s): {ROLLED_OVER}" if self.stretch.gaps else None),
            details={name: value for name, value in asdict(self.stretch).items() if name not in ("documents",)},
        )
        try_record_run(self.storage, run)
        self.stretch = CaptureStats()
        self.stretch_began = self.clock()


def capture(
    client: pymongo.MongoClient[Any],
    storage: Storage,
    *,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    flush_bytes: int = DEFAULT_FLUSH_BYTES,
    stop: threading.Event | None = None,
    once: bool = False,
    on_flush: Callable[[ChunkManifest, CaptureStats], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
    recipients: tuple[str, ...] = (),
) -> CaptureStats:
    """Tails the oplog into chunks until `stop` is set (or, with `once`, until it has caught up). Whatever
    ends it (a stop, SIGTERM, the server gone for good), what it has buffered is committed first."""
    stop = stop or threading.Event()
    stats = CaptureStats()
    try:
        parse_recipients(recipients)  # a bad key is a setting error before anything is read
        run = _Capture(client, storage, stats, on_flush, clock, recipients)
    except PyMongoError as error:
        raise SourceError(f"cannot reach the oplog to capture: {error}") from None
    failure: BaseException | None = None
    try:
        began = time.monotonic()
        down_since: float | None = None
        attempt = 0  # reconnections in a row, for the pause before the next one
        while not stop.is_set():
            try:
                # Before every cursor, not only after errors: a tailable cursor can end without one, and
                # reopening it after the oplog rolled past the resume point would skip entries silently.
                run.check_rollover()
                cursor = run.oplog.find({"ts": {"$gt": run.resume}}, cursor_type=CursorType.TAILABLE_AWAIT)
                cursor = cursor.max_await_time_ms(1000)
                read = 0
                while cursor.alive and not stop.is_set():
                    with pymongo.timeout(GETMORE_SECONDS):  # a getMore the server never answers is a lost server
                        entry = next(cursor, None)
                    down_since, attempt = None, 0
                    if entry is not None:
                        run.add(entry)
                        read += 1
                    if run.buffered >= flush_bytes or (run.buffer and time.monotonic() - began >= flush_seconds):
                        run.flush()
                        began = time.monotonic()
                    if entry is None and once:
                        return stats
                if once:
                    return stats
                if not read:
                    stop.wait(1.0)  # an empty oplog ends a tailable cursor at once: do not spin
            except PyMongoError as error:
                run.flush()
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > RECONNECT_SECONDS:
                    raise SourceError(f"the oplog capture lost the server for good: {error}") from None
                stats.reconnects += 1
                attempt += 1
                stop.wait(min(30.0, 2.0 ** min(attempt, 5)))  # then the rollover check, before the next cursor
        return stats
    except KeyboardInterrupt:
        raise  # ctrl-c or SIGTERM (a pod stopped): the way a capture is meant to end, not a failure
    except BaseException as error:
        failure = error
        raise
    finally:
        try:
            run.flush()
        finally:
            run.record(failure)


def _before(ts: Timestamp) -> Timestamp:
    """The timestamp just before `ts` (so that `$gt` includes `ts`)."""
    return Timestamp(ts.time, ts.inc - 1) if ts.inc else Timestamp(ts.time - 1, 0xFFFFFFFF)


def newest_base_start(storage: Storage) -> Timestamp | None:
    """Where replay from the newest complete base archive begins (see engine.pitr.base.base_start)."""
    from engine.archive.catalog import list_archives  # only a first capture needs the catalog
    from engine.pitr.base import base_start

    newest = next((entry for entry in list_archives(storage) if entry.status == ArchiveStatus.COMPLETE), None)
    return base_start(storage, newest) if newest is not None else None
