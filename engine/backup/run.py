"""One backup run: dump → tar → compress → atomic upload → manifest → ledger record."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from engine import __version__
from engine.archive.catalog import ArchiveEntry, list_archives
from engine.archive.encryption import AgeWriter, parse_recipients
from engine.archive.format import (
    MANIFEST_SUFFIX,
    ArchiveRef,
    HashingWriter,
    archive_name,
    check_codec,
    open_compressor,
    parse_archive_name,
    tar_writer,
)
from engine.archive.manifest import Encryption, Manifest, write_manifest
from engine.backup.dump import dump_into_tar
from engine.backup.mongodump import add_dump_folder, mongodump_into_folder
from engine.common.clock import Clock, iso, utc_now
from engine.common.config import DEFAULT_CODEC
from engine.common.errors import ConfigError, StorageError, VaultError, VerificationError
from engine.common.faults import checkpoint
from engine.common.namespaces import NamespaceFilter
from engine.common.progress import ProgressCallback, ProgressTracker
from engine.common.states import ArchiveStatus, RunKind
from engine.evidence.lease import StorageLease
from engine.evidence.ledger import RunRecord, recorded_run
from engine.evidence.verify import check_stored_bytes, compare_with_manifest, name_scheme, scan_archive
from engine.mongo.connect import connect, oplog_time, plan_dump, server_version
from engine.mongo.tools import tool_version
from engine.pitr.dump_oplog import add_dump_oplog
from engine.pitr.store import discard_uncommitted_chunks
from engine.storage import Storage

DUMPERS = ("native", "mongodump")


@dataclass(frozen=True)
class BackupOptions:
    codec: str = DEFAULT_CODEC
    dumper: str = "native"
    namespaces: NamespaceFilter = field(default_factory=NamespaceFilter)
    parallel: int = 4
    spool_dir: Path | None = None
    connect_timeout: float = 10.0
    # Re-read the stored archive and check it against the manifest-to-be before committing. Off only for
    # users who accept that a backup reported good may not restore.
    read_back: bool = True
    # age public keys (age1…): when given, the archive is encrypted to every one of them (.tar.zst.age).
    recipients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", tuple(key.strip() for key in self.recipients if key.strip()))

    def validate(self) -> None:
        check_codec(self.codec)
        parse_recipients(self.recipients)
        if self.dumper not in DUMPERS:
            raise ConfigError(f"unknown dumper {self.dumper!r}: choose one of {', '.join(DUMPERS)}")
        if not 1 <= self.parallel <= 64:
            raise ConfigError(f"parallel must be between 1 and 64, not {self.parallel}")


@dataclass
class BackupResult:
    manifest: Manifest
    record: RunRecord


def run_backup(
    storage: Storage,
    mongo_uri: str,
    options: BackupOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
) -> BackupResult:
    """Makes one archive. Success or failure, the run is recorded in the ledger; on failure nothing that
    looks like a complete archive is left behind (the upload is aborted, no manifest is written)."""
    options = options or BackupOptions()
    details = {"codec": options.codec, "dumper": options.dumper}
    with (
        recorded_run(storage, RunKind.BACKUP, clock, [mongo_uri], details=details) as record,
        StorageLease(storage, RunKind.BACKUP, exclusive=True, clock=clock) as lease,
    ):
        options.validate()
        started = _free_second(storage, options, clock)
        swept = sweep_unfinished(storage, started)
        record.started_at = iso(started)
        record.archive = archive_name(started, options.codec, encrypted=bool(options.recipients))
        manifest = _make_archive(storage, mongo_uri, options, record.archive, progress, clock)
        record.duration_seconds = manifest.duration_seconds
        record.bytes = manifest.archive_bytes
        record.documents = manifest.documents
        record.details = {
            "codec": manifest.codec,
            "dumper": manifest.dumper,
            "made_by": manifest.origin,
            "collections": len(manifest.collections),
            "read_back": manifest.read_back,
            **swept,
        }
        if lease.warnings:
            record.details["lease"] = lease.warnings
    return BackupResult(manifest, record)


def _free_second(storage: Storage, options: BackupOptions, clock: Clock) -> datetime:
    """The start time, in a second no archive is named after yet. A backup right after another (the dashboard's
    `b` after the CronJob's run, a script) can start within the second the last one's name took; under the
    exclusive lease no other backup runs, so this one waits for the next second (at most one) instead of failing.
    A clock that does not move (a test's) keeps its second, and the name is refused as taken."""
    started = clock()
    encrypted = bool(options.recipients)
    for attempt in range(2):
        name = archive_name(started, options.codec, encrypted=encrypted)
        if storage.stat(name) is None:
            return started
        if attempt == 0:
            time.sleep(1.0 - started.microsecond / 1e6 + 0.001)
            started = clock()
    raise StorageError(f"archive {name} already exists in {storage.url}: another backup started this second")


def _make_archive(
    storage: Storage,
    mongo_uri: str,
    options: BackupOptions,
    name: str,
    progress: ProgressCallback | None,
    clock: Clock,
) -> Manifest:
    ref = parse_archive_name(name)
    assert ref is not None
    # The archive's writer opens first: a folder that refuses the write is named before the source is dialled
    # (a connect can take its whole timeout); S3 sends nothing until the first part, so a denied PutObject still
    # shows after the connect. A failure anywhere below aborts the writer, leaving no partial archive.
    with storage.open_write(name) as raw:
        client = connect(mongo_uri, timeout_seconds=options.connect_timeout)
        began = time.monotonic()
        try:
            version = server_version(client)
            oplog_start = oplog_time(client)
            plans, skipped = plan_dump(client, options.namespaces)
            tracker = ProgressTracker("dump", progress, total_documents=_estimate_documents(client, plans))
            hashed = HashingWriter(raw)
            with (
                sealed(hashed, options.recipients) as sink,
                open_compressor(options.codec, sink) as compressed,  # type: ignore[arg-type]
                tar_writer(compressed) as tar,
            ):
                if options.dumper == "native":
                    entries = dump_into_tar(
                        client,
                        plans,
                        tar,
                        ref.stamp,
                        ref.time,
                        tracker,
                        parallel=options.parallel,
                        spool_dir=options.spool_dir,
                    )
                    dumper = "native"
                else:
                    with tempfile.TemporaryDirectory(prefix="vaultui-mongodump-", dir=options.spool_dir) as folder:
                        tool = mongodump_into_folder(mongo_uri, options.namespaces, Path(folder), options.parallel)
                        entries = add_dump_folder(tar, Path(folder), ref.stamp, ref.time, options.namespaces, tracker)
                        dumper = f"mongodump {tool_version(tool)}"
                oplog_end = oplog_time(client)
                dump_oplog = None
                if oplog_start is not None and oplog_end is not None:
                    dump_oplog = add_dump_oplog(
                        client, tar, ref.stamp, ref.time, oplog_start, oplog_end, options.namespaces
                    )
        finally:
            client.close()
    tracker.finish()
    finished = clock()
    manifest = Manifest(
        archive=name,
        stamp=ref.stamp,
        codec=options.codec,
        archive_bytes=hashed.bytes,
        archive_sha256=hashed.sha256.hexdigest(),
        started_at=iso(ref.time),
        finished_at=iso(finished),
        duration_seconds=round(time.monotonic() - began, 3),
        server_version=version,
        dumper=dumper,
        tool_version=f"vaultui {__version__}",
        oplog_start=oplog_start,
        oplog_end=oplog_end,
        dump_oplog=dump_oplog,
        scope={
            "databases": list(options.namespaces.databases),
            "include": list(options.namespaces.include),
            "exclude": list(options.namespaces.exclude),
        },
        collections=entries,
        skipped=skipped,
        read_back=options.read_back,
        encryption=Encryption(recipients=list(options.recipients)) if options.recipients else None,
    )
    checkpoint("backup.archive-written")
    try:
        if options.read_back:
            read_back(storage, ref, manifest, progress)
        write_manifest(storage, ref, manifest)
    except BaseException:
        storage.delete(name)  # an archive without its manifest is never trusted; do not leave it either
        raise
    return manifest


# A write still unfinished this long after it began belongs to a run that was killed: no run lives longer
# (the CronJob's deadline is 4 h; manual runs get three times that).
STALE_WRITE_AGE = timedelta(hours=12)


def sweep_unfinished(storage: Storage, now: datetime) -> dict[str, object]:
    """Removes what killed runs left (hidden .partial files, incomplete multipart uploads); a storage that
    will not let us is noted, never a reason to fail the backup. Archive and manifest writes go as soon as
    they are older than this run: only a run holding the exclusive lease (this one) writes those. Small
    writes of other runs (ledger records, leases) go once older than STALE_WRITE_AGE."""

    def archive_write(key: str) -> bool:
        return parse_archive_name(key.removesuffix(MANIFEST_SUFFIX)) is not None

    try:
        removed = storage.discard_unfinished(now, archive_write)
        removed += storage.discard_unfinished(now - STALE_WRITE_AGE)
        # An archive of ours without its manifest is a run killed between the two writes: never trusted,
        # never restored, so nothing is lost by removing it (the old pipeline's archives have no manifest
        # by nature and are left alone).
        for entry in list_archives(storage):
            if entry.status == ArchiveStatus.INCOMPLETE and not entry.ref.legacy and entry.ref.time < now:
                storage.delete(entry.name)
                removed.append(entry.name)
        # Likewise an oplog chunk whose manifest never came (a capture killed between the two): never read.
        # Only old ones: a running capture writes its manifest a moment after its chunk.
        removed += discard_uncommitted_chunks(storage, now - STALE_WRITE_AGE)
    except VaultError as error:
        return {"sweep_failed": str(error)}
    return {"discarded_unfinished": removed} if removed else {}


def read_back(storage: Storage, ref: ArchiveRef, manifest: Manifest, progress: ProgressCallback | None) -> None:
    """Reads the archive back from the storage (not from any local copy) with the checks a restore makes:
    sha256 and size, tar structure, every file mapped to exactly one namespace, counts and checksums. Any
    difference means the backup is not restorable, so it fails before the commit mark is written."""
    info = storage.stat(ref.name)
    if info is None:
        raise VerificationError(f"{ref.name} is not in {storage.url} after writing it: the backup failed")
    entry = ArchiveEntry(ref, info.size, info.modified, has_manifest=False)
    if ref.encrypted:
        # The backup holds only public keys: it checks the stored bytes are the ones it sealed (age
        # authenticates each chunk, so those decrypt to exactly the tar it wrote).
        if problems := check_stored_bytes(storage, entry, manifest):
            raise VerificationError(f"backup {ref.name} did not read back as written: {'; '.join(problems)}")
        return
    tracker = ProgressTracker("read-back", progress, total_documents=manifest.documents)
    try:
        scan = scan_archive(storage, entry, name_scheme(manifest), tracker, decode=True)
    except VerificationError as error:
        raise VerificationError(f"backup {ref.name} did not read back from storage: {error}") from None
    tracker.finish()
    if problems := compare_with_manifest(manifest, scan):
        raise VerificationError(f"backup {ref.name} did not read back as written: {'; '.join(problems[:5])}")


@contextmanager
def sealed(raw: HashingWriter, recipients: tuple[str, ...]) -> Iterator[HashingWriter | AgeWriter]:
    """`raw` itself, or an age stream into it when there are recipients."""
    if not recipients:
        yield raw
        return
    with AgeWriter(raw, parse_recipients(recipients)) as writer:
        yield writer


def _estimate_documents(client: object, plans: list) -> int | None:  # type: ignore[type-arg]
    total = 0
    try:
        for plan in plans:
            if plan.type == "collection":
                total += client[plan.database][plan.collection].estimated_document_count()  # type: ignore[index]
    except Exception:  # an estimate only: progress works without it
        return None
    return total
