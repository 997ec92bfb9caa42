"""Archive names and dates, the codecs, and streaming the mongodump layout into and out of a tar stream."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, BinaryIO, cast

import zstandard

from engine.archive.bson_check import NATIVE, check_buffer, check_documents, impossible_length, malformed, truncated
from engine.archive.encryption import AGE_SUFFIX
from engine.archive.gzip_codec import gzip_reader, gzip_writer
from engine.common.cpus import usable_cpus
from engine.common.errors import ConfigError, VerificationError
from engine.common.limits import MAX_DOCUMENT_BYTES, MAX_MEMBERS, MAX_TAR_HEADER_BYTES, check_size
from engine.common.printable import printable, undecodable
from engine.storage.base import AtomicWriter

CODECS = ("gzip", "zstd")
EXTENSIONS = {"gzip": ".tar.gz", "zstd": ".tar.zst"}
MANIFEST_SUFFIX = ".manifest.json"
HOLD_SUFFIX = ".hold.json"
# zstd 3 is its command line default (gzip's level: engine.archive.gzip_codec).
ZSTD_LEVEL = 3

_CURRENT_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)\.tar\.(?P<ext>gz|zst)(?P<age>\.age)?$")
_LEGACY_NAME = re.compile(r"^(?P<stamp>\d{8})\.tar\.gz$")
_EXTENSION_CODECS = {"gz": "gzip", "zst": "zstd"}


@dataclass(frozen=True, order=True)
class ArchiveRef:
    """What an archive's name says: when it was taken, its codec, and whether the old pipeline made it."""

    time: datetime
    name: str
    stamp: str  # the top folder inside the tar: YYYYMMDDTHHMMSSZ, or YYYYMMDD for legacy archives
    codec: str
    legacy: bool
    encrypted: bool = False  # an age stream around the compressed tar (engine.archive.encryption)

    @property
    def manifest_key(self) -> str:
        return self.name + MANIFEST_SUFFIX


def archive_name(started: datetime, codec: str, encrypted: bool = False) -> str:
    """The archive name for a run started at `started`: name order is time order."""
    check_codec(codec)
    return started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + EXTENSIONS[codec] + (AGE_SUFFIX if encrypted else "")


@lru_cache(maxsize=65536)
def parse_archive_name(name: str) -> ArchiveRef | None:
    """The ArchiveRef for a storage key, or None when the key is not an archive (manifests, ledger, ...).
    Every listing parses every key: cached, and the digits read directly (strptime took a quarter of the
    dashboard's start over 10,000 archives)."""
    if match := _CURRENT_NAME.match(name):
        stamp = match["stamp"]
        time = _stamp_time(stamp[:8], stamp[9:15])
        if time is None:
            return None
        codec = _EXTENSION_CODECS[match["ext"]]
        return ArchiveRef(time, name, stamp, codec, legacy=False, encrypted=bool(match["age"]))
    if match := _LEGACY_NAME.match(name):
        stamp = match["stamp"]
        time = _stamp_time(stamp, "000000")
        return None if time is None else ArchiveRef(time, name, stamp, "gzip", legacy=True)
    return None


def _stamp_time(day: str, clock: str) -> datetime | None:
    """YYYYMMDD and HHMMSS (digits, as the name patterns guarantee) as a UTC time; None when not a real one."""
    try:
        return datetime(
            int(day[:4]), int(day[4:6]), int(day[6:8]), int(clock[:2]), int(clock[2:4]), int(clock[4:6]), tzinfo=UTC
        )
    except ValueError:
        return None


def check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise ConfigError(f"unknown codec {codec!r}: choose one of {', '.join(CODECS)}")
    return codec


def open_compressor(codec: str, raw: IO[bytes]) -> IO[bytes]:
    """A write stream that compresses into `raw`; closing it flushes the codec's trailer, not `raw`."""
    check_codec(codec)
    if codec == "gzip":
        return gzip_writer(raw)
    # Worker threads for the CPUs the container may use (0: compress on this thread when there is one).
    cpus = usable_cpus()
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=cpus if cpus > 1 else 0, write_checksum=True)
    return cast(IO[bytes], compressor.stream_writer(raw, closefd=False))


def open_decompressor(codec: str, raw: IO[bytes]) -> IO[bytes]:
    """A read stream of the decompressed bytes of `raw`."""
    check_codec(codec)
    if codec == "gzip":
        return gzip_reader(raw)
    return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False))


@contextmanager
def open_archive_stream(ref: ArchiveRef, raw: IO[bytes], recipients: Sequence[str] = ()) -> Iterator[IO[bytes]]:
    """The decompressed tar stream of an archive read from `raw`, decrypted first when it is encrypted (the
    identities come from the restore's settings; `recipients`, from its manifest, sharpen the errors)."""
    if not ref.encrypted:
        with open_decompressor(ref.codec, raw) as plain:
            yield plain
        return
    from engine.archive.encryption import IDENTITIES, AgeReader

    identities = IDENTITIES.get(ref.name, recipients)
    with AgeReader(raw, identities, ref.name, recipients) as opened, open_decompressor(ref.codec, opened) as plain:  # type: ignore[arg-type]
        yield plain


class HashingWriter:
    """Passes bytes through to `raw` while counting them and computing their sha256."""

    def __init__(self, raw: IO[bytes] | BinaryIO | AtomicWriter) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._raw.write(data)
        self.sha256.update(data)
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""


class HashingReader:
    """Reads from `raw` while counting bytes and computing their sha256."""

    def __init__(self, raw: IO[bytes] | BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        self.bytes += len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self, chunk: int = 1 << 20) -> None:
        """Reads to the end, so the hash covers the whole object even when the tar ended early."""
        while self.read(chunk):
            pass


def tar_writer(stream: IO[bytes]) -> tarfile.TarFile:
    """A streaming tar writer in PAX format (no size or name limits), readable by GNU tar and mongorestore."""
    return tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)


def add_member(tar: tarfile.TarFile, path: str, data: IO[bytes], size: int, mtime: datetime) -> None:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mtime = int(mtime.timestamp())
    info.mode = 0o644
    tar.addfile(info, data)


def add_bytes(tar: tarfile.TarFile, path: str, data: bytes, mtime: datetime) -> None:
    add_member(tar, path, io.BytesIO(data), len(data), mtime)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses long-name and PAX headers past MAX_TAR_HEADER_BYTES before tarfile reads them into memory."""

    # tarfile's private header hooks: typeshed does not declare them, so the calls up are typed here.
    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        check_size(self.size, MAX_TAR_HEADER_BYTES, f"the long-name header of {self.name!r}")
        return cast(tarfile.TarInfo, super()._proc_gnulong(tar))  # type: ignore[misc]

    def _proc_pax(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        check_size(self.size, MAX_TAR_HEADER_BYTES, f"the PAX header of {self.name!r}")
        return cast(tarfile.TarInfo, super()._proc_pax(tar))  # type: ignore[misc]


def tar_reader(stream: IO[bytes]) -> tarfile.TarFile:
    """A streaming tar reader with bounded headers. Iterate it with `members` (which also bounds how many
    members it takes and forgets each one once passed)."""
    return tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo)


def members(tar: tarfile.TarFile, where: str) -> Iterator[tarfile.TarInfo]:
    """The tar's members in order. tarfile keeps every member it has seen (a million tiny entries took half a
    gigabyte); a stream never goes back, so each is forgotten once passed."""
    for count, member in enumerate(tar, start=1):
        check_size(count, MAX_MEMBERS, f"the member count of {where}", unit="members")
        tar.members.clear()  # type: ignore[attr-defined]  # tarfile's list of seen members
        yield member


@dataclass(frozen=True)
class MemberPath:
    """Where a tar member sits in the mongodump layout: <stamp>/<db>/<stem>.<kind>. `stem` is the collection's
    file name as written (escaped as mongodump escapes it; see engine.archive.collection_files), not yet its
    real name."""

    stamp: str
    database: str
    stem: str
    kind: str  # "bson" or "metadata"
    gzipped: bool = False  # `mongodump --gzip` output: <stem>.bson.gz, <stem>.metadata.json.gz


@dataclass(frozen=True)
class DumpPrelude:
    """mongodump 100.x's prelude.json (`.gz` with --gzip): the server's and the tool's versions. It sits at the
    top of the dump, or in the database's folder when dumped with --db (as the old CronJob did)."""

    name: str
    gzipped: bool


@dataclass(frozen=True)
class UnmappedMember:
    """A plain file that is no collection of the dump: what it is and why it is not restored."""

    name: str
    reason: str


# `.bin` is a collection's data in dumps of very old mongodump versions; mongorestore still reads it.
_MEMBER = re.compile(
    r"^(?P<stamp>[^/]+)/(?P<db>[^/]+)/(?P<coll>[^/]+)\.(?P<kind>bson|bin|metadata\.json)(?P<gz>\.gz)?$"
)
_PRELUDE = ("prelude.json", "prelude.json.gz")


def check_member(member: tarfile.TarInfo, archive: str) -> MemberPath | DumpPrelude | UnmappedMember | None:
    """Refuses members that could write outside the restore folder or are not plain files. Returns where a
    data member sits; mongodump's prelude; an UnmappedMember for any other file (the caller decides whether
    that is an error); None for folders and the dump's own top-level oplog.bson."""
    name = member.name.removeprefix("./")  # `tar -C dir .` writes ./-prefixed names
    if name.startswith("/") or ".." in name.split("/") or "\\" in name:
        raise VerificationError(f"{archive} holds an unsafe path {printable(name)!r}: refusing the archive")
    if member.isdir():
        return None
    if not member.isfile():
        raise VerificationError(
            f"{archive} holds {printable(name)!r}, which is a link or device, not a file: refusing the archive"
        )
    if undecodable(name):  # tarfile kept the bytes as surrogates: no MongoDB name is spelled so
        return UnmappedMember(printable(name), "its path is not valid UTF-8, and MongoDB names are")
    parts = name.split("/")
    if len(parts) in (2, 3) and parts[-1] in _PRELUDE:
        return DumpPrelude(name, parts[-1].endswith(".gz"))
    match = _MEMBER.match(name)
    if match:
        kind = "metadata" if match["kind"] == "metadata.json" else "bson"
        return MemberPath(match["stamp"], match["db"], match["coll"], kind, bool(match["gz"]))
    if len(parts) == 2 and parts[1] == "oplog.bson":
        return None
    if len(parts) > 3 and parts[-1].endswith((".bson", ".metadata.json")):
        reason = "a collection file inside a sub-folder (a '/' written unescaped into a file name)"
    elif len(parts) < 3:
        reason = "not inside a <database>/ folder"
    else:
        reason = "not a .bson or .metadata.json file"
    return UnmappedMember(name, reason)


def iter_bson(
    stream: IO[bytes], where: str, chunk_documents: int = 1000, chunk_bytes: int = 8 * 1024 * 1024
) -> Iterator[list[bytes]]:
    """Raw BSON documents from a concatenated .bson stream, in lists of up to `chunk_documents` documents or
    about `chunk_bytes` bytes (memory stays bounded whatever the document sizes), checking each document's
    framing (length prefix, trailing NUL) without decoding it. The stream is read a mebibyte at a time: two
    small reads per document through tar and the codec cost more than the framing itself."""
    buffer, position = b"", 0
    batch: list[bytes] = []
    batch_bytes = 0
    while True:
        if len(buffer) - position < 4:
            buffer, position = _refill(stream, buffer[position:], 4), 0
            if not buffer:
                break
            if len(buffer) < 4:
                raise truncated(where)
        length = int.from_bytes(buffer[position : position + 4], "little")
        if length < 5 or length > MAX_DOCUMENT_BYTES:
            raise impossible_length(where, length)
        if len(buffer) - position < length:
            buffer, position = _refill(stream, buffer[position:], length), 0
            if len(buffer) < length:
                raise truncated(where)
        end = position + length
        if buffer[end - 1] != 0:
            raise malformed(where)
        batch.append(buffer[position:end])
        position = end
        batch_bytes += length
        if len(batch) >= chunk_documents or batch_bytes >= chunk_bytes:
            yield batch
            batch = []
            batch_bytes = 0
    if batch:
        yield batch


_READ_SIZE = 1 << 20


def iter_checked(stream: IO[bytes], where: str, validate: bool) -> Iterator[tuple[int, memoryview]]:
    """(documents, their bytes) from a concatenated .bson stream, a mebibyte or so at a time: every document
    framed as `iter_bson` frames it and, with `validate`, checked throughout (engine.archive.bson_check), with no
    Python work per document. For reads that keep no document (verify); a loader needs `iter_bson`'s lists."""
    if not NATIVE:  # the pure fallback: framed by iter_bson, decoded by pymongo a batch at a time
        for batch in iter_bson(stream, where):
            joined = b"".join(batch)
            if validate:
                check_documents(joined, where)
            yield len(batch), memoryview(joined)
        return
    rest = b""
    while True:
        need = len(rest) + 1
        if len(rest) >= 4:  # a document longer than what is buffered: read up to its end at once
            need = max(need, int.from_bytes(rest[:4], "little"))
        buffer = _refill(stream, rest, need)
        if len(buffer) == len(rest):
            if rest:
                raise truncated(where)
            return
        documents, consumed = check_buffer(buffer, where, validate)
        if documents:
            yield documents, memoryview(buffer)[:consumed]
        rest = buffer[consumed:]


def _refill(stream: IO[bytes], rest: bytes, need: int) -> bytes:
    """`rest` and what follows it in the stream: at least `need` bytes (less only at its end), read a mebibyte
    at a time and joined once, however short the stream's reads are."""
    pieces, have = [rest], len(rest)
    while have < need or have == len(rest):
        more = stream.read(max(_READ_SIZE, need - have))
        if not more:
            break
        pieces.append(more)
        have += len(more)
        if have >= need:
            break
    return b"".join(pieces)
