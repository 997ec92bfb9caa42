"""Re-reads an archive end to end: checksum against its manifest, tar structure, BSON framing, counts."""

from __future__ import annotations

import hashlib
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import zstandard
from bson import json_util

from engine.archive import HashingReader, check_member, iter_bson, open_decompressor, tar_reader
from engine.catalog import ArchiveEntry
from engine.clock import Clock, iso, utc_now
from engine.errors import VerificationError
from engine.ledger import RunRecord, try_record_run
from engine.manifest import Manifest
from engine.progress import ProgressCallback, ProgressTracker
from engine.storage import Storage

READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, zstandard.ZstdError, OSError, ValueError)


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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def documents(self) -> int:
        return sum(found.documents for found in self.collections.values())


def scan_archive(
    storage: Storage, entry: ArchiveEntry, tracker: ProgressTracker | None = None
) -> tuple[dict[str, CollectionFound], HashingReader]:
    """Reads the whole archive once, checking every member; raises VerificationError at the first break."""
    found: dict[str, CollectionFound] = {}
    with storage.open_read(entry.name) as raw:
        hashed = HashingReader(raw)
        try:
            with open_decompressor(entry.ref.codec, hashed) as plain, tar_reader(plain) as tar:  # type: ignore[arg-type]
                for member in tar:
                    where = check_member(member, entry.name)
                    if where is None:
                        continue
                    if where.stamp != entry.ref.stamp:
                        raise VerificationError(
                            f"{entry.name} holds {member.name!r} outside its folder {entry.ref.stamp}/"
                        )
                    collection = found.setdefault(f"{where.database}.{where.collection}", CollectionFound())
                    stream = tar.extractfile(member)
                    assert stream is not None
                    if where.kind == "metadata":
                        collection.metadata = _parse_metadata(stream.read(), f"{entry.name}: {member.name}")
                        continue
                    digest = hashlib.sha256()
                    for batch in iter_bson(stream, f"{entry.name}: {member.name}"):
                        collection.documents += len(batch)
                        for document in batch:
                            digest.update(document)
                            collection.bson_bytes += len(document)
                            collection.unordered_digest = add_to_digest(collection.unordered_digest, document)
                        if tracker:
                            tracker.advance(documents=len(batch), current=member.name)
                    collection.sha256 = digest.hexdigest()
                hashed.drain()
        except VerificationError:
            raise
        except READ_ERRORS as error:
            raise VerificationError(f"{entry.name} is truncated or corrupt: {error}") from None
    return found, hashed


def add_to_digest(total: int, document: bytes) -> int:
    return (total + int.from_bytes(hashlib.sha256(document).digest(), "big")) % (1 << 256)


def _parse_metadata(data: bytes, where: str) -> dict[str, Any]:
    try:
        parsed = json_util.loads(data or b"{}", json_options=json_util.CANONICAL_JSON_OPTIONS)
    except (ValueError, TypeError) as error:
        raise VerificationError(f"{where} is not valid extended JSON ({error})") from None
    if not isinstance(parsed, dict):
        raise VerificationError(f"{where} is not a JSON object")
    return parsed


def compare_with_manifest(manifest: Manifest, found: dict[str, CollectionFound], hashed: HashingReader) -> list[str]:
    problems = []
    if hashed.bytes != manifest.archive_bytes:
        problems.append(f"size is {hashed.bytes} bytes, the manifest says {manifest.archive_bytes}")
    if hashed.sha256.hexdigest() != manifest.archive_sha256:
        problems.append("sha256 does not match the manifest: the archive changed after it was written")
    for expected in manifest.collections:
        got = found.get(expected.namespace)
        if got is None or not got.has_metadata:
            problems.append(f"{expected.namespace} is missing from the archive")
        elif got.documents != expected.documents or (expected.bson_sha256 and got.sha256 != expected.bson_sha256):
            problems.append(
                f"{expected.namespace} holds {got.documents} documents, the manifest says {expected.documents}"
                + ("" if got.sha256 == expected.bson_sha256 else " (content differs)")
            )
    extra = set(found) - {entry.namespace for entry in manifest.collections}
    problems += [f"{namespace} is in the archive but not in the manifest" for namespace in sorted(extra)]
    return problems


def verify_archive(storage: Storage, entry: ArchiveEntry, progress: ProgressCallback | None = None) -> VerifyReport:
    """Checks one archive. Problems are reported, not raised, so `verify --all` goes through every archive;
    storage errors (unreachable, forbidden) still raise."""
    began = time.monotonic()
    manifest = entry.manifest(storage)
    tracker = ProgressTracker(
        "verify", progress, total_bytes=None, total_documents=manifest.documents if manifest else None
    )
    report = VerifyReport(entry.name, entry.status, checksum_checked=manifest is not None)
    try:
        found, hashed = scan_archive(storage, entry, tracker)
        report.collections = found
        report.archive_bytes = hashed.bytes
        if manifest is not None:
            report.problems += compare_with_manifest(manifest, found, hashed)
        elif not found:
            report.problems.append("holds no collection in the mongodump layout <stamp>/<db>/<collection>.bson")
        else:
            report.problems += (
                [f"{namespace} has no metadata.json" for namespace, got in found.items() if not got.has_metadata]
                if not entry.ref.legacy
                else []
            )
    except VerificationError as error:
        report.problems.append(str(error))
    tracker.finish()
    report.duration_seconds = round(time.monotonic() - began, 3)
    return report


def verify_and_record(
    storage: Storage, entry: ArchiveEntry, *, progress: ProgressCallback | None = None, clock: Clock = utc_now
) -> VerifyReport:
    """Verifies and writes the outcome to the ledger, where the dashboard reads an archive's verified or
    corrupt state from. A storage that cannot take the record does not hide the report."""
    started = clock()
    report = verify_archive(storage, entry, progress)
    try_record_run(
        storage,
        RunRecord(
            "verify",
            iso(started),
            iso(clock()),
            "success" if report.ok else "failure",
            archive=entry.name,
            bytes=report.archive_bytes,
            documents=report.documents,
            duration_seconds=report.duration_seconds,
            error="; ".join(report.problems) or None,
        ),
    )
    return report
