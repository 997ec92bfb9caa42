"""Where the captured oplog lives in the storage and how its objects are named: chunks committed by their
manifests, gap records, and the timestamps in their names. Listing needs no MongoDB driver (status, metrics
and retention read only this); engine.pitr.capture captures and reads chunks back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import Timestamp

from engine.archive.encryption import AGE_SUFFIX
from engine.common.errors import VerificationError
from engine.common.schemas import SchemaError, decode
from engine.storage import ObjectInfo, Storage, read_bytes

OPLOG_PREFIX = "oplog/"
GAP_PREFIX = OPLOG_PREFIX + "gaps/"
CHUNK_SUFFIX = ".bson.zst"
SEALED_CHUNK_SUFFIX = CHUNK_SUFFIX + AGE_SUFFIX  # encrypted with age, like archives (engine.archive.encryption)
MANIFEST_SUFFIX = ".manifest.json"


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


def last_whole_second(ts: Timestamp) -> datetime:
    """The newest second whose every entry is at or before `ts` (a time given as a second means all of it)."""
    whole = timestamp_time(ts)
    return whole if ts.inc == 0xFFFFFFFF else whole - timedelta(seconds=1)


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
    # False when the server that wrote the oplog logs no commands (FerretDB 1.x keeps inserts, updates and
    # deletes only): a replay across drops, renames and index changes is then not faithful, and says so.
    logs_commands: bool = True
    own_entries_left_out: int = 0  # vaultui's own writes (staging, marker, drills) not captured

    @property
    def first_ts(self) -> Timestamp:
        return parse_stamp(self.first)

    @property
    def last_ts(self) -> Timestamp:
        return parse_stamp(self.last)

    @property
    def after_ts(self) -> Timestamp:
        return parse_stamp(self.after)


ROLLED_OVER = (
    "the oplog no longer reached back to where the capture stood (it rolled over while the capture was behind or down)"
)


@dataclass
class Gap:
    """A span the capture could not record: the oplog had rolled past it."""

    after: str  # stamp() of the last entry captured before the hole
    resumed: str  # stamp() of the first entry captured after it
    found_at: str
    why: str = ""  # what made it (records written before this field: a rollover found by the capture)

    @property
    def reason(self) -> str:
        return self.why or ROLLED_OVER

    @property
    def began(self) -> datetime:
        return timestamp_time(parse_stamp(self.after))

    @property
    def ended(self) -> datetime:
        return timestamp_time(parse_stamp(self.resumed))


def chunk_name(first: Timestamp, last: Timestamp, encrypted: bool = False) -> str:
    return f"{OPLOG_PREFIX}{stamp(first)}-{stamp(last)}{SEALED_CHUNK_SUFFIX if encrypted else CHUNK_SUFFIX}"


def chunk_suffix(key: str) -> str:
    """The chunk suffix of `key` ("" when it is not a chunk)."""
    return next((suffix for suffix in (SEALED_CHUNK_SUFFIX, CHUNK_SUFFIX) if key.endswith(suffix)), "")


@dataclass(frozen=True)
class ChunkRef:
    """A committed chunk as one listing shows it (its manifest is there): its bounds come from its name and
    its size from the store, so status and coverage need no read per chunk (a 60 s flush makes 1,440 a day)."""

    key: str
    first: Timestamp
    last: Timestamp
    size: int


def committed_keys(infos: list[ObjectInfo]) -> set[str]:
    """The objects of a listing that have their manifest (the commit mark)."""
    return {info.key[: -len(MANIFEST_SUFFIX)] for info in infos if info.key.endswith(MANIFEST_SUFFIX)}


def list_chunk_refs(storage: Storage) -> list[ChunkRef]:
    """Committed chunks, oldest first, from one listing. A chunk without its manifest was cut short: absent."""
    infos = list(storage.list(OPLOG_PREFIX, recursive=False))
    committed = committed_keys(infos)
    refs = []
    for info in infos:
        suffix = chunk_suffix(info.key)
        if info.key not in committed or not suffix:
            continue
        first, _, last = info.key[len(OPLOG_PREFIX) : -len(suffix)].partition("-")
        try:
            refs.append(ChunkRef(info.key, parse_stamp(first), parse_stamp(last), info.size))
        except ValueError:
            continue  # not a name the capture writes
    return sorted(refs, key=lambda ref: (ref.last, ref.first))


def discard_uncommitted_chunks(storage: Storage, written_before: datetime) -> list[str]:
    """Removes chunks that never got their manifest (a capture killed between the two writes), written
    before `written_before`; returns their keys."""
    infos = list(storage.list(OPLOG_PREFIX, recursive=False))
    committed = committed_keys(infos)
    removed = []
    for info in infos:
        if chunk_suffix(info.key) and info.key not in committed and info.modified < written_before:
            storage.delete(info.key)
            removed.append(info.key)
    return removed


def read_chunk_manifest(storage: Storage, ref: ChunkRef) -> ChunkManifest:
    key = ref.key + MANIFEST_SUFFIX
    try:
        return decode(read_bytes(storage, key), ChunkManifest, key)
    except SchemaError as error:
        raise VerificationError(f"{error}: the oplog chunk {ref.key} cannot be trusted") from None


def list_chunks(storage: Storage) -> list[ChunkManifest]:
    """Every committed chunk's manifest, oldest first (reads them all: for checks, not for status)."""
    return [read_chunk_manifest(storage, ref) for ref in list_chunk_refs(storage)]


def gap_key(gap: Gap) -> str:
    return f"{GAP_PREFIX}{gap.after}-{gap.resumed}.json"


def gap_resumed(key: str) -> str:
    """The `resumed` stamp of a gap record, from its key."""
    return key[len(GAP_PREFIX) :].removesuffix(".json").partition("-")[2]


def list_gaps(storage: Storage) -> list[Gap]:
    gaps = []
    for info in storage.list(GAP_PREFIX):
        try:
            gaps.append(decode(read_bytes(storage, info.key), Gap, info.key))
        except SchemaError:
            continue
    return sorted(gaps, key=lambda gap: gap.after)
