"""Continuous oplog capture into the archive storage, and reading it back: point-in-time recovery's input.

The capture tails `local.oplog.rs` with a tailable-await cursor and writes chunks of raw entries,
`oplog/<first>-<last>.bson.zst` (zstd over concatenated BSON: mongodump's `oplog.bson` format inside), each
with a sidecar `<chunk>.manifest.json` written last (count, first/last timestamp, sha256). A chunk without
its manifest was cut short by a kill and is never read. A capture resumes after the last committed chunk, so
nothing is lost or doubled. When the oplog no longer reaches back to that point (the capture was down longer
than the oplog's window), the hole is recorded as a gap, `oplog/gaps/<from>-<to>.json`, and the capture goes
on from the oldest entry there is."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pymongo
import zstandard
from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.cursor import CursorType
from pymongo.errors import PyMongoError

from engine.archive import iter_bson
from engine.errors import SourceError, VerificationError
from engine.faults import checkpoint
from engine.schemas import SchemaError, decode
from engine.storage import Storage, read_bytes, write_bytes

OPLOG_PREFIX = "oplog/"
GAP_PREFIX = OPLOG_PREFIX + "gaps/"
CHUNK_SUFFIX = ".bson.zst"
MANIFEST_SUFFIX = ".manifest.json"
DEFAULT_FLUSH_SECONDS = 60.0
DEFAULT_FLUSH_BYTES = 64 * 1024 * 1024
_RAW = CodecOptions(document_class=RawBSONDocument)


def stamp(ts: Timestamp) -> str:
    """A timestamp as it appears in names: fixed width, so that name order is time order."""
    return f"{ts.time:010d}.{ts.inc:010d}"


def parse_stamp(text: str) -> Timestamp:
    seconds, _, increment = text.partition(".")
    return Timestamp(int(seconds), int(increment))


def parse_time(text: str) -> Timestamp:
    """`--to-time`: an ISO 8601 time with a zone (`2026-11-25T14:32:05Z`, the last entry of that second
    included) or an oplog timestamp `T:I`."""
    if ":" in text and text.replace(":", "").isdigit():
        seconds, increment = text.split(":")
        return Timestamp(int(seconds), int(increment))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z for UTC")
    return Timestamp(int(moment.timestamp()), 0xFFFFFFFF)  # every entry of that second


def timestamp_time(ts: Timestamp) -> datetime:
    return datetime.fromtimestamp(ts.time, UTC)


@dataclass
class ChunkManifest:
    """What a committed chunk holds."""

    chunk: str
    after: str  # stamp() the capture read after: the chunk covers (after, last], holes included in none
    first: str  # stamp() of the first entry
    last: str
    count: int
    bytes: int  # of the compressed chunk
    sha256: str  # of the compressed chunk
    format: int = 1

    @property
    def first_ts(self) -> Timestamp:
        return parse_stamp(self.first)

    @property
    def last_ts(self) -> Timestamp:
        return parse_stamp(self.last)

    @property
    def after_ts(self) -> Timestamp:
        return parse_stamp(self.after)


@dataclass
class Gap:
    """A span the capture could not record: the oplog had rolled past it."""

    after: str  # stamp() of the last entry captured before the hole
    resumed: str  # stamp() of the first entry captured after it
    found_at: str


def chunk_name(first: Timestamp, last: Timestamp) -> str:
    return f"{OPLOG_PREFIX}{stamp(first)}-{stamp(last)}{CHUNK_SUFFIX}"


def list_chunks(storage: Storage) -> list[ChunkManifest]:
    """Committed chunks (those with a manifest), oldest first; a broken manifest hides its chunk."""
    chunks = []
    for info in storage.list(OPLOG_PREFIX, recursive=False):
        if not info.key.endswith(CHUNK_SUFFIX + MANIFEST_SUFFIX):
            continue
        try:
            chunks.append(decode(read_bytes(storage, info.key), ChunkManifest, info.key))
        except SchemaError:
            continue
    return sorted(chunks, key=lambda chunk: (chunk.last_ts, chunk.first_ts))


def list_gaps(storage: Storage) -> list[Gap]:
    gaps = []
    for info in storage.list(GAP_PREFIX):
        try:
            gaps.append(decode(read_bytes(storage, info.key), Gap, info.key))
        except SchemaError:
            continue
    return sorted(gaps, key=lambda gap: gap.after)


def write_chunk(storage: Storage, entries: list[bytes], after: Timestamp) -> ChunkManifest:
    """One chunk and then its manifest (the commit mark). It covers every entry after `after` up to its
    last one: the next chunk of the same capture starts where it ends."""
    first = RawBSONDocument(entries[0])["ts"]
    last = RawBSONDocument(entries[-1])["ts"]
    name = chunk_name(first, last)
    data = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(b"".join(entries))
    write_bytes(storage, name, data)
    checkpoint("oplog.chunk-written")
    manifest = ChunkManifest(
        name, stamp(after), stamp(first), stamp(last), len(entries), len(data), hashlib.sha256(data).hexdigest()
    )
    write_bytes(storage, name + MANIFEST_SUFFIX, json.dumps(asdict(manifest), indent=1).encode())
    return manifest


def read_chunk(storage: Storage, manifest: ChunkManifest) -> Iterator[RawBSONDocument]:
    """A chunk's entries, after its bytes matched the manifest (a chunk is small: read whole)."""
    data = read_bytes(storage, manifest.chunk, limit=max(manifest.bytes, 1))
    if len(data) != manifest.bytes or hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise VerificationError(f"oplog chunk {manifest.chunk} does not match its manifest: it cannot be replayed")
    try:
        plain = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 31)
    except zstandard.ZstdError as error:
        raise VerificationError(f"oplog chunk {manifest.chunk} is corrupt: {error}") from None
    count = 0
    for batch in iter_bson(io.BytesIO(plain), manifest.chunk):
        for raw in batch:
            count += 1
            yield RawBSONDocument(raw, _RAW)
    if count != manifest.count:
        raise VerificationError(
            f"oplog chunk {manifest.chunk} holds {count} entries, its manifest says {manifest.count}"
        )


@dataclass
class CaptureStats:
    chunks: int = 0
    entries: int = 0
    gaps: int = 0
    lag_seconds: float = 0.0  # newest entry seen vs the clock, at the last flush


def oplog_collection(client: pymongo.MongoClient) -> Any:
    if "oplog.rs" not in client.local.list_collection_names(filter={"name": "oplog.rs"}):
        raise SourceError(
            "this MongoDB has no oplog (local.oplog.rs): it is a standalone server. Run it as a replica set "
            "(--replSet rs0, then rs.initiate()) to capture the oplog"
        )
    return client.local.get_collection("oplog.rs", codec_options=_RAW)


def capture(
    client: pymongo.MongoClient,
    storage: Storage,
    *,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    flush_bytes: int = DEFAULT_FLUSH_BYTES,
    stop: threading.Event | None = None,
    once: bool = False,
) -> CaptureStats:
    """Tails the oplog into chunks until `stop` is set (or, with `once`, until it has caught up)."""
    stop = stop or threading.Event()
    oplog = oplog_collection(client)
    stats = CaptureStats()
    chunks = list_chunks(storage)
    resume = chunks[-1].last_ts if chunks else None
    try:
        oldest = next(iter(oplog.find({}, {"ts": 1}).sort("$natural", 1).limit(1)), None)
        newest = next(iter(oplog.find({}, {"ts": 1}).sort("$natural", -1).limit(1)), None)
    except PyMongoError as error:
        raise SourceError(f"cannot read the oplog: {error}") from None
    if resume is None:
        # A first capture starts at the newest base archive, so that it can be rolled forward at once; the
        # oplog may not reach back that far (then from its oldest entry), and without a base, from now.
        now = newest["ts"] if newest is not None else Timestamp(int(time.time()), 0)
        resume = newest_base_start(storage) or now
        if oldest is not None and oldest["ts"].time > resume.time:
            # The oplog begins after the base's start second: entries may have rolled off, so this capture
            # covers only from its oldest entry on. (Within that second it began with the base's own writes.)
            resume = _before(oldest["ts"])
    elif oldest is not None and oldest["ts"] > resume:
        gap = Gap(stamp(resume), stamp(oldest["ts"]), datetime.now(UTC).isoformat(timespec="seconds"))
        write_bytes(storage, f"{GAP_PREFIX}{gap.after}-{gap.resumed}.json", json.dumps(asdict(gap)).encode())
        stats.gaps += 1
        resume = _before(oldest["ts"])
    buffer: list[bytes] = []
    buffered = 0
    began = time.monotonic()

    covered = resume  # the chunks of this capture cover everything after this point

    def flush() -> None:
        nonlocal buffer, buffered, resume, covered
        if not buffer:
            return
        manifest = write_chunk(storage, buffer, covered)
        covered = manifest.last_ts
        stats.chunks += 1
        stats.entries += manifest.count
        stats.lag_seconds = max(0.0, time.time() - manifest.last_ts.time)
        resume = manifest.last_ts
        buffer, buffered = [], 0

    while not stop.is_set():
        try:
            cursor = oplog.find({"ts": {"$gt": resume}}, cursor_type=CursorType.TAILABLE_AWAIT)
            cursor = cursor.max_await_time_ms(1000)
            idle = True
            while cursor.alive and not stop.is_set():
                entry = next(cursor, None)
                if entry is None:
                    if once and idle:
                        break
                    idle = True
                else:
                    idle = False
                    raw = entry.raw
                    buffer.append(raw)
                    buffered += len(raw)
                    resume = entry["ts"]
                if buffered >= flush_bytes or (buffer and time.monotonic() - began >= flush_seconds):
                    flush()
                    began = time.monotonic()
                if entry is None and once:
                    break
        except PyMongoError as error:
            flush()
            raise SourceError(f"the oplog capture lost the server: {error}") from None
        if once:
            break
    flush()
    return stats


def read_entries(storage: Storage, after: Timestamp, until: Timestamp) -> Iterator[RawBSONDocument]:
    """Entries with after < ts <= until, from committed chunks that cover that span without a hole (each
    chunk starts where the one before ended), each checked against its manifest first."""
    chunks = list_chunks(storage)
    start = next((chunk for chunk in chunks if chunk.after_ts <= after < chunk.last_ts), None)
    if start is None:
        raise VerificationError(
            f"no oplog chunk covers {timestamp_time(after):%Y-%m-%d %H:%M:%S} UTC: the capture was not running "
            "then (or that part was purged), so this time cannot be reached from that base"
        )
    needed = [start]
    while needed[-1].last_ts < until:
        following = next((chunk for chunk in chunks if chunk.after_ts == needed[-1].last_ts), None)
        if following is None:
            raise VerificationError(
                f"the oplog is captured without a hole up to {timestamp_time(needed[-1].last_ts):%Y-%m-%d %H:%M:%S} "
                "UTC only (a gap, or the newest capture): choose an earlier time"
            )
        needed.append(following)
    for chunk in needed:
        for entry in read_chunk(storage, chunk):
            if after < entry["ts"] <= until:
                yield entry


def _before(ts: Timestamp) -> Timestamp:
    """The timestamp just before `ts` (so that `$gt` includes `ts`)."""
    return Timestamp(ts.time, ts.inc - 1) if ts.inc else Timestamp(ts.time - 1, 0xFFFFFFFF)


def newest_base_start(storage: Storage) -> Timestamp | None:
    """Where replay from the newest complete base archive begins (see engine.pitr.base_start)."""
    from engine.catalog import list_archives  # only a first capture needs the catalog
    from engine.pitr import base_start

    newest = next((entry for entry in list_archives(storage) if entry.status == "complete"), None)
    return base_start(storage, newest) if newest is not None else None
