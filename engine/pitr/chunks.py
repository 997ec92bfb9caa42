"""Chunks of captured oplog in the storage: writing one (zstd over concatenated BSON, mongodump's `oplog.bson`
format inside, sealed with age when the storage is encrypted, its manifest written last), reading one back
checked against its manifest, and chaining the committed chunks that reach a time without a hole. What the
objects are called and how they are listed is engine.pitr.store."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import asdict

import zstandard
from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from engine.archive.encryption import AGE_SUFFIX, seal, unseal
from engine.archive.format import iter_bson
from engine.common.errors import VerificationError
from engine.common.faults import checkpoint
from engine.pitr.store import (
    MANIFEST_SUFFIX,
    ChunkManifest,
    chunk_name,
    last_whole_second,
    list_chunk_refs,
    read_chunk_manifest,
    stamp,
    timestamp_time,
)
from engine.storage import Storage, read_bytes, write_bytes

_RAW = CodecOptions(document_class=RawBSONDocument)


def write_chunk(
    storage: Storage,
    entries: list[bytes],
    after: Timestamp,
    recipients: tuple[str, ...] = (),
    *,
    logs_commands: bool = True,
    left_out: int = 0,
) -> ChunkManifest:
    """One chunk and then its manifest (the commit mark). It covers every entry after `after` up to its
    last one: the next chunk of the same capture starts where it ends. With `recipients`, the chunk is
    encrypted to them as archives are (a chunk is small: sealed whole)."""
    first = RawBSONDocument(entries[0])["ts"]
    last = RawBSONDocument(entries[-1])["ts"]
    name = chunk_name(first, last, encrypted=bool(recipients))
    data = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(b"".join(entries))
    if recipients:
        data = seal(data, recipients)
    write_bytes(storage, name, data)
    checkpoint("oplog.chunk-written")
    manifest = ChunkManifest(
        name,
        stamp(after),
        stamp(first),
        stamp(last),
        len(entries),
        len(data),
        hashlib.sha256(data).hexdigest(),
        logs_commands=logs_commands,
        own_entries_left_out=left_out,
    )
    write_bytes(storage, name + MANIFEST_SUFFIX, json.dumps(asdict(manifest), indent=1).encode())
    return manifest


def read_chunk(storage: Storage, manifest: ChunkManifest) -> Iterator[RawBSONDocument]:
    """A chunk's entries, after its bytes matched the manifest (a chunk is small: read whole)."""
    data = read_bytes(storage, manifest.chunk, limit=max(manifest.bytes, 1))
    if len(data) != manifest.bytes or hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise VerificationError(f"oplog chunk {manifest.chunk} does not match its manifest: it cannot be replayed")
    if manifest.chunk.endswith(AGE_SUFFIX):
        data = unseal(data, manifest.chunk)
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


def chain_chunks(storage: Storage, after: Timestamp, until: Timestamp) -> list[ChunkManifest]:
    """The committed chunks that hold every entry with after < ts <= until without a hole: the first covers
    `after`, each next one starts where the one before ended (manifests are read only for these)."""
    if until <= after:
        return []
    refs = [ref for ref in list_chunk_refs(storage) if ref.last > after]
    needed: list[ChunkManifest] = []
    reached = after
    for ref in refs:
        if needed and reached >= until:
            break
        manifest = read_chunk_manifest(storage, ref)
        if not needed and manifest.after_ts <= after:
            needed.append(manifest)
        elif needed and manifest.after_ts == reached:
            needed.append(manifest)
        elif not needed:
            break  # the oldest chunk after `after` starts later: nothing covers it
        else:
            continue  # overlaps the chain (another capture): the chain may go on after it
        reached = manifest.last_ts
    if not needed:
        raise VerificationError(
            f"no oplog chunk covers {timestamp_time(after):%Y-%m-%d %H:%M:%S} UTC: the capture was not running "
            "then (or that part was purged), so this time cannot be reached from that base"
        )
    if reached < until:
        raise VerificationError(
            f"the oplog is captured without a hole up to {last_whole_second(reached):%Y-%m-%d %H:%M:%S} "
            "UTC only (a gap, or the newest capture): choose an earlier time"
        )
    return needed


def read_entries(
    storage: Storage, after: Timestamp, until: Timestamp, chunks: list[ChunkManifest] | None = None
) -> Iterator[RawBSONDocument]:
    """Entries with after < ts <= until, each chunk checked against its manifest first."""
    for chunk in chunks if chunks is not None else chain_chunks(storage, after, until):
        for entry in read_chunk(storage, chunk):
            if after < entry["ts"] <= until:
                yield entry
