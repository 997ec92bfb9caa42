"""Re-reads an archive end to end: checksum against its manifest, tar structure, BSON framing, counts.

Long because the check is one streaming pass (codec, tar, BSON, counts, digests, the loader fed as it goes)
whose steps share that pass's state; the metadata shape it validates lives here too."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import bson
import zstandard
from bson import json_util

from engine.archive.bson_check import check_documents
from engine.archive.catalog import ArchiveEntry
from engine.archive.collection_files import NameScheme, UndecodableName, collection_from_stem
from engine.archive.encryption import IDENTITIES, MissingIdentity
from engine.archive.format import (
    DumpPrelude,
    HashingReader,
    UnmappedMember,
    check_member,
    iter_bson,
    iter_checked,
    members,
    open_archive_stream,
    tar_reader,
)
from engine.archive.gzip_codec import gzip_errors, gzip_reader
from engine.archive.manifest import Manifest, dump_origin
from engine.common.clock import Clock, iso, utc_now
from engine.common.errors import VerificationError
from engine.common.limits import MAX_METADATA_BYTES, BoundedReader, check_size, unpacked_limit
from engine.common.printable import printable
from engine.common.progress import ProgressCallback, ProgressTracker
from engine.common.schemas import SchemaError, convert
from engine.common.states import RunKind, RunResult
from engine.evidence.lease import StorageLease
from engine.evidence.ledger import RunRecord, try_record_run
from engine.storage import Storage
from engine.storage.errors import StorageFault, TransientFault

READ_ERRORS = (tarfile.TarError, EOFError, zstandard.ZstdError, OSError, ValueError)


def read_errors() -> tuple[type[BaseException], ...]:
    """What a damaged archive raises while it is read: READ_ERRORS and the gzip library's own."""
    return READ_ERRORS + gzip_errors()


@dataclass
class CollectionFound:
    """One namespace as a full read found it; `metadata` is its parsed metadata.json (small, kept for restore)."""

    documents: int = 0
    bson_bytes: int = 0
    sha256: str = ""
    metadata: dict[str, Any] | None = None
    # Sum of every document's sha256 (mod 2**256): equal for the same documents in any order, so a restored
    # collection can be checked against the archive whatever order parallel inserts left it in.
    unordered_digest: int = 0
    stem: str = ""  # the collection's file name in the archive (without suffix), as written
    has_bson: bool = False

    @property
    def has_metadata(self) -> bool:
        return self.metadata is not None


@dataclass
class VerifyReport:
    """What a full read of an archive found. `ok` is False when any problem was found."""

    archive: str
    status: str  # complete | legacy | incomplete
    checksum_checked: bool
    problems: list[str] = field(default_factory=list)
    collections: dict[str, CollectionFound] = field(default_factory=dict)
    archive_bytes: int = 0
    duration_seconds: float = 0.0
    # Files of a legacy archive that will not be restored, each with the reason (a vaultui archive has none:
    # there they are problems).
    not_restored: list[str] = field(default_factory=list)
    unreadable: str = ""  # the storage would not hand it over: no verdict on its content
    # An encrypted archive checked without an identity: what could not be checked (its sha256 and size were).
    sealed: str = ""
    oplog_entries: int = 0  # the dump's own oplog.bson (replayed after the load: engine.pitr.dump_oplog)
    prelude: Prelude | None = None  # what mongodump's prelude.json says made the dump
    contents_checked: bool = False  # every document was read and checked element by element

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def checked(self) -> str:
        """What this read checked, in words: a checksum vouches for bytes, only the element check for documents."""
        if self.sealed:
            return "sha256 and size of the encrypted bytes only: set an age identity to check the contents"
        parts = ["sha256 and size against the manifest" if self.checksum_checked else "no manifest to compare"]
        parts.append("tar structure")
        if self.contents_checked:
            parts.append("every document element by element")
        return ", ".join(parts)

    @property
    def documents(self) -> int:
        return sum(found.documents for found in self.collections.values())


@dataclass(frozen=True)
class Prelude:
    """mongodump's prelude.json: the versions of the server it dumped and of itself."""

    server_version: str
    tool_version: str

    def describe(self) -> str:
        return dump_origin(self.server_version, f"mongodump {self.tool_version or '?'}")


MAX_PRELUDE_BYTES = 64 * 1024


def _read_prelude(stream: Any) -> Prelude | None:
    """The prelude's versions, or None when it says nothing readable (it is informative, never data)."""
    data = stream.read(MAX_PRELUDE_BYTES + 1)
    try:
        parsed = json.loads(data) if len(data) <= MAX_PRELUDE_BYTES else None
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    server, tool = parsed.get("ServerVersion", ""), parsed.get("ToolVersion", "")
    return Prelude(printable(server), printable(tool)) if isinstance(server, str) and isinstance(tool, str) else None


@dataclass
class ScanResult:
    """One read of an archive: its collections by real namespace, the files that map to none, and the bytes."""

    collections: dict[str, CollectionFound]
    unmapped: list[UnmappedMember]
    hashed: HashingReader
    oplog_entries: int = 0  # in the dump's own oplog.bson
    prelude: Prelude | None = None


# Collections the server manages itself, which mongorestore never restores as data (mongorestore/filepath.go).
SERVER_MANAGED = {
    "system.indexes": "system.indexes holds index definitions of pre-3.0 servers, not data; mongorestore skips it",
    "system.profile": "system.profile is the server's profiler output; MongoDB refuses inserts into it",
}


class ScanSink(Protocol):
    """What receives an archive's contents during a scan (see engine.restore.load.LoadSink)."""

    def metadata(self, database: str, stem: str, metadata: dict[str, Any]) -> None: ...

    def documents(self, database: str, stem: str, batch: list[bytes]) -> None: ...


def name_scheme(manifest: Manifest | None) -> NameScheme:
    """Format-1 manifests (vaultui 0.1) wrote raw collection names into member paths; everything else,
    mongodump's output and the old pipeline's archives included, is escaped the way mongodump escapes."""
    return NameScheme.RAW if manifest is not None and manifest.format < 2 else NameScheme.ESCAPED


def scan_archive(
    storage: Storage,
    entry: ArchiveEntry,
    scheme: NameScheme,
    tracker: ProgressTracker | None = None,
    *,
    decode: bool = True,
    sink: ScanSink | None = None,
    unpacked: tuple[int, str] | None = None,
    recipients: Sequence[str] = (),
    digests: bool = False,
) -> ScanResult:
    """Reads the whole archive once, checking every member; raises VerificationError at the first break.
    `decode` checks every document element by element (engine.archive.bson_check): every verify, read-back and restore
    does, since a manifest's checksum vouches for the bytes, not for the documents a writer put in them; only
    the benchmark turns it off, to show what framing alone costs. A read that keeps no document (no sink, no
    digests) frames and checks a mebibyte at a time in C (358 MB/s of BSON checked on one core, zstd included).
    Collection files are matched to namespaces once the read is done, because a shortened file name is
    resolved from its metadata, which a legacy tar may hold after the data. A `sink` receives each collection's
    metadata and document batches as they are read: how a restore loads while it verifies, in one read.
    `unpacked` is (bytes, setting): how far the archive may unpack (see engine.common.limits). `recipients` (from the
    manifest) are the age keys an encrypted archive was sealed to: they tell a wrong key from a damaged one.
    `digests` adds each collection's order-free digest (a sha256 per document): only a drill, which compares
    what it restored with the archive, needs it."""
    limit, setting = unpacked or unpacked_limit(None)
    by_file: dict[tuple[str, str], CollectionFound] = {}
    unmapped: list[UnmappedMember] = []
    seen: set[str] = set()
    oplog_entries = 0
    prelude: Prelude | None = None
    with storage.open_read(entry.name) as raw:
        hashed = HashingReader(raw)
        try:
            with open_archive_stream(entry.ref, hashed, recipients) as plain:  # type: ignore[arg-type]
                bounded = BoundedReader(plain, limit, f"{entry.name} unpacked", setting)
                tar = tar_reader(bounded)  # type: ignore[arg-type]
                for member in members(tar, entry.name):
                    where = check_member(member, entry.name)
                    if where is None and member.name.removeprefix("./") == f"{entry.ref.stamp}/oplog.bson":
                        oplog_entries = _scan_dump_oplog(tar, member, f"{entry.name}: {member.name}", decode)
                        continue
                    if where is None:
                        continue
                    if isinstance(where, DumpPrelude):
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        prelude = _read_prelude(gzip_reader(extracted) if where.gzipped else extracted)
                        continue
                    if isinstance(where, UnmappedMember):
                        unmapped.append(where)
                        continue
                    if where.stamp != entry.ref.stamp:
                        raise VerificationError(
                            f"{entry.name} holds {member.name!r} outside its folder {entry.ref.stamp}/"
                        )
                    if member.name in seen:
                        raise VerificationError(f"{entry.name} holds {member.name!r} twice: refusing the archive")
                    seen.add(member.name)
                    collection = by_file.setdefault((where.database, where.stem), CollectionFound(stem=where.stem))
                    stream: Any = tar.extractfile(member)
                    assert stream is not None
                    if where.gzipped:  # `mongodump --gzip`: bounded like the archive's own unpacking
                        stream = BoundedReader(gzip_reader(stream), limit, f"{member.name} unpacked", setting)
                    if where.kind == "metadata":
                        check_size(member.size, MAX_METADATA_BYTES, f"{entry.name}: {member.name}")
                        text = stream.read(MAX_METADATA_BYTES + 1)
                        check_size(len(text), MAX_METADATA_BYTES, f"{entry.name}: {member.name}")
                        collection.metadata = _parse_metadata(text, f"{entry.name}: {member.name}")
                        if sink is not None:
                            sink.metadata(where.database, where.stem, collection.metadata)
                        continue
                    collection.has_bson = True
                    digest = hashlib.sha256()
                    if sink is None and not digests:  # nothing keeps a document: framed and checked in C
                        for count, chunk in iter_checked(stream, f"{entry.name}: {member.name}", decode):
                            collection.documents += count
                            collection.bson_bytes += len(chunk)
                            digest.update(chunk)
                            if tracker:
                                tracker.advance(byte_count=len(chunk), documents=count, current=member.name)
                        collection.sha256 = digest.hexdigest()
                        continue
                    for batch in iter_bson(stream, f"{entry.name}: {member.name}"):
                        joined = b"".join(batch)  # hashed and checked a batch at a time, never a document
                        if decode:
                            check_documents(joined, f"{entry.name}: {member.name}")
                        collection.documents += len(batch)
                        collection.bson_bytes += len(joined)
                        digest.update(joined)
                        if digests:
                            for document in batch:
                                collection.unordered_digest = add_to_digest(collection.unordered_digest, document)
                        if sink is not None:
                            sink.documents(where.database, where.stem, batch)
                        if tracker:
                            tracker.advance(byte_count=len(joined), documents=len(batch), current=member.name)
                    collection.sha256 = digest.hexdigest()
                # Read the decompressed stream to its end: only then are gzip's CRC and length and zstd's frame
                # checksums checked (tar stops at its end-of-archive blocks, before the codec's trailer).
                while bounded.read(1 << 20):
                    pass
                hashed.drain()
        except VerificationError:
            raise
        except read_errors() as error:
            raise VerificationError(f"{entry.name} is truncated or corrupt: {error}") from None
    found: dict[str, CollectionFound] = {}
    for (database, stem), collection in sorted(by_file.items()):
        suffix = ".bson" if collection.has_bson else ".metadata.json"
        member_name = f"{entry.ref.stamp}/{database}/{stem}{suffix}"
        try:
            name = collection_from_stem(stem, scheme, (collection.metadata or {}).get("collectionName"))
        except UndecodableName as error:
            unmapped.append(UnmappedMember(member_name, f"its name does not decode to a collection: {error}"))
            continue
        if skipped := SERVER_MANAGED.get(name):
            unmapped.append(UnmappedMember(member_name, skipped))
            continue
        namespace = f"{database}.{name}"
        if namespace in found:
            raise VerificationError(f"{entry.name} holds two sets of files for {namespace}: refusing the archive")
        found[namespace] = collection
    return ScanResult(found, unmapped, hashed, oplog_entries, prelude)


def _scan_dump_oplog(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str, decode: bool) -> int:
    """The entries of a dump's own oplog.bson (engine.pitr.dump_oplog), checked as any collection's documents."""
    stream = tar.extractfile(member)
    assert stream is not None
    return sum(count for count, _ in iter_checked(stream, where, decode))


def add_to_digest(total: int, document: bytes) -> int:
    return (total + int.from_bytes(hashlib.sha256(document).digest(), "big")) % (1 << 256)


def _parse_metadata(data: bytes, where: str) -> dict[str, Any]:
    try:
        parsed = json_util.loads(data or b"{}", json_options=json_util.CANONICAL_JSON_OPTIONS)
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError, bson.errors.BSONError) as error:
        raise VerificationError(f"{where} is not valid extended JSON ({error})") from None
    try:
        convert(parsed, MetadataShape, where)
    except SchemaError as error:
        raise VerificationError(str(error)) from None
    try:  # a JSON escape can spell a lone surrogate, which no server takes: refused here, not mid-restore
        bson.encode({"metadata": parsed})
    except (UnicodeEncodeError, bson.errors.BSONError) as error:
        raise VerificationError(f"{where} holds text or values no MongoDB server accepts ({error})") from None
    return parsed  # type: ignore[no-any-return]


@dataclass
class MetadataShape:
    """The fields of a mongodump metadata.json the loader relies on, with their types (the values inside
    options and index specs are any BSON: the allow-lists in engine.restore.load and engine.mongo.indexes filter
    them)."""

    options: dict[str, Any] = field(default_factory=dict)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    collectionName: str = ""  # noqa: N815 - mongodump's field name
    type: str = "collection"


def compare_with_manifest(manifest: Manifest, scan: ScanResult) -> list[str]:
    """Everything that differs between what was read and what the manifest promises. In an archive with a
    manifest every file must map to exactly one namespace of it, and every namespace must have its files."""
    found = scan.collections
    problems = stored_bytes_problems(manifest, scan.hashed)
    for expected in manifest.collections:
        got = found.get(expected.namespace)
        if got is None or not got.has_metadata:
            problems.append(f"{expected.namespace} is missing from the archive")
        elif expected.type == "collection" and not got.has_bson:
            problems.append(f"{expected.namespace} has no .bson file in the archive")
        elif got.documents != expected.documents or (expected.bson_sha256 and got.sha256 != expected.bson_sha256):
            problems.append(
                f"{expected.namespace} holds {got.documents} documents, the manifest says {expected.documents}"
                + ("" if got.sha256 == expected.bson_sha256 else " (content differs)")
            )
    if manifest.dump_oplog is not None and scan.oplog_entries != manifest.dump_oplog.entries:
        problems.append(
            f"its oplog.bson holds {scan.oplog_entries} entries, the manifest says {manifest.dump_oplog.entries}"
        )
    extra = set(found) - {entry.namespace for entry in manifest.collections}
    problems += [f"{namespace} is in the archive but not in the manifest" for namespace in sorted(extra)]
    problems += [f"{item.name} maps to no namespace: {item.reason}" for item in scan.unmapped]
    return problems


def verify_archive(
    storage: Storage,
    entry: ArchiveEntry,
    progress: ProgressCallback | None = None,
    *,
    sink: ScanSink | None = None,
    phase: str = "verify",
    digests: bool = False,
    keyless: bool = False,
) -> VerifyReport:
    """Checks one archive (handing what it reads to `sink`, if any). Problems are reported, not raised, so
    `verify --all` goes through every archive. An archive the storage will not hand over (a permission, a
    symlink out of the folder, a vanished object) is reported `unreadable`: no verdict on its content. A
    transient storage fault (timeout, reset, 5xx) raises: it says nothing about the archive. `keyless` is for
    `verify` itself: an encrypted archive it has no identity for is checked as far as it can be (its stored
    bytes) or reported unopened; anywhere else (a restore, a drill) a missing key stops the run."""
    began = time.monotonic()
    try:
        manifest = entry.manifest(storage)
    except VerificationError as error:  # a malformed manifest condemns this archive only
        return VerifyReport(entry.name, entry.status, checksum_checked=False, problems=[str(error)])
    except TransientFault:
        raise
    except StorageFault as error:  # the storage will not hand it over: this archive is skipped, not condemned
        problem = f"its manifest cannot be read from the storage: {error}"
        return VerifyReport(entry.name, entry.status, False, problems=[problem], unreadable=str(error))
    tracker = ProgressTracker(
        phase, progress, total_bytes=None, total_documents=manifest.documents if manifest else None
    )
    report = VerifyReport(entry.name, entry.status, checksum_checked=manifest is not None)
    if keyless and entry.ref.encrypted and manifest is not None and IDENTITIES.public_keys() is None:
        # No identity here (the backup's own pod has only public keys): the stored bytes against the manifest.
        try:
            report.problems += check_stored_bytes(storage, entry, manifest)
        except TransientFault:
            raise
        except StorageFault as error:  # a permission, a vanished object: this one only, no verdict
            report.unreadable = str(error)
            report.problems.append(f"cannot be read from the storage: {error}")
        report.archive_bytes = manifest.archive_bytes
        report.sealed = "its contents were not checked: no age identity here to decrypt them"
        report.duration_seconds = round(time.monotonic() - began, 3)
        return report
    try:
        unpacked = unpacked_limit(manifest.bson_bytes, len(manifest.collections)) if manifest else None
        scan = scan_archive(
            storage,
            entry,
            name_scheme(manifest),
            tracker,
            decode=True,  # a checksum vouches for the bytes, not for the documents a writer put in them
            sink=sink,
            unpacked=unpacked,
            recipients=manifest.recipients if manifest else (),
            digests=digests,
        )
        found = scan.collections
        report.collections = found
        report.archive_bytes = scan.hashed.bytes
        report.oplog_entries = scan.oplog_entries
        report.prelude = scan.prelude
        report.contents_checked = True  # the scan raised at the first document that failed the check
        if manifest is not None:
            report.problems += compare_with_manifest(manifest, scan)
        elif not found:
            report.problems.append("holds no collection in the mongodump layout <stamp>/<db>/<collection>.bson")
            report.problems += [f"{item.name} maps to no namespace: {item.reason}" for item in scan.unmapped]
        elif entry.ref.legacy:
            # The old pipeline's archives are what mongodump wrote: restore what maps, and say what does not.
            report.not_restored = [f"{item.name}: {item.reason}" for item in scan.unmapped]
        else:
            # A vaultui archive without its manifest: the backup that wrote it never committed it.
            report.problems.append("has no manifest: the backup that wrote it did not finish, so it is never restored")
            report.problems += [f"{item.name} maps to no namespace: {item.reason}" for item in scan.unmapped]
            report.problems += [
                f"{namespace} has no metadata.json" for namespace, got in found.items() if not got.has_metadata
            ]
    except VerificationError as error:
        report.problems.append(str(error))
    except MissingIdentity as error:
        if not keyless:
            raise  # a restore stops here, nothing changed: a setting to fix, not a reason to try another archive
        report.unreadable = str(error)  # no verdict on its content
        report.problems.append(f"cannot be opened: {error}")
    except TransientFault:
        raise  # the storage may answer later: not a verdict on the archive
    except StorageFault as error:  # a symlink out of the folder, a permission, a vanished object: this one only
        report.unreadable = str(error)
        report.problems.append(f"cannot be read from the storage: {error}")
    tracker.finish()
    report.duration_seconds = round(time.monotonic() - began, 3)
    return report


def check_stored_bytes(storage: Storage, entry: ArchiveEntry, manifest: Manifest) -> list[str]:
    """Size and sha256 of the stored object against its manifest: all that can be checked of an encrypted
    archive without its key (age authenticates every chunk, so intact ciphertext decrypts to what was sealed)."""
    with storage.open_read(entry.name) as raw:  # a storage fault propagates: no verdict on the archive
        hashed = HashingReader(raw)
        hashed.drain()
    return stored_bytes_problems(manifest, hashed)


def stored_bytes_problems(manifest: Manifest, hashed: HashingReader) -> list[str]:
    """How the bytes read differ from the size and sha256 the manifest recorded."""
    problems = []
    if hashed.bytes != manifest.archive_bytes:
        problems.append(f"size is {hashed.bytes} bytes, the manifest says {manifest.archive_bytes}")
    if hashed.sha256.hexdigest() != manifest.archive_sha256:
        problems.append("sha256 does not match the manifest: the archive changed after it was written")
    return problems


def verify_and_record(
    storage: Storage,
    entry: ArchiveEntry,
    *,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
    digests: bool = False,
    keyless: bool = False,
) -> VerifyReport:
    """Verifies and writes the outcome to the ledger, where the dashboard reads an archive's verified or
    corrupt state from. A storage that cannot take the record does not hide the report."""
    started = clock()
    with StorageLease(storage, RunKind.VERIFY, exclusive=False, clock=clock) as lease:
        lease.reading(entry.name)
        report = verify_archive(storage, entry, progress, digests=digests, keyless=keyless)
    record_verdict(storage, report, started, clock)
    return report


def record_verdict(storage: Storage, report: VerifyReport, started: datetime, clock: Clock = utc_now) -> None:
    """Writes a verify run for a full read of an archive. An unreadable archive gets none: a permission or a
    vanished object is not a verdict on the content, and must not mark a good archive corrupt."""
    if report.unreadable:
        return
    try_record_run(
        storage,
        RunRecord(
            RunKind.VERIFY,
            iso(started),
            iso(clock()),
            RunResult.SUCCESS if report.ok else RunResult.FAILURE,
            archive=report.archive,
            bytes=report.archive_bytes,
            documents=report.documents,
            duration_seconds=report.duration_seconds,
            error="; ".join(report.problems) or None,
            details={
                "contents_checked": report.contents_checked,
                **({"why": report.sealed} if report.sealed else {}),
                **({"made_by": report.prelude.describe()} if report.prelude is not None else {}),
            },
        ),
    )
