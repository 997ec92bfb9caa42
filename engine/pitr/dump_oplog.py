"""The oplog a base archive carries, as `mongodump --oplog` does: the entries written while the dump ran, in
`<stamp>/oplog.bson` at the top of the dump folder. Replayed onto the dumped collections they make the
archive consistent at its `oplog_end` (a dump reads collections one after another while writes go on), by
vaultui's restore or by hand with `mongorestore --oplogReplay` (which reads the same file). Archives the old
pipeline made with `mongodump --oplog` carry one too: verify checks it, and a restore loads them as
mongorestore does by default (without replaying it)."""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import bson
import pymongo
from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import OperationFailure, PyMongoError

from engine.archive.catalog import ArchiveEntry
from engine.archive.format import HashingReader, add_member, iter_bson, members, open_archive_stream, tar_reader
from engine.archive.manifest import DumpOplog, Manifest
from engine.common.errors import SourceError, VerificationError
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.pitr.apply import OplogApplier
from engine.storage import Storage

DUMP_OPLOG = "oplog.bson"
SPOOL_IN_MEMORY = 16 * 1024 * 1024  # past this, the entries wait on disk
_RAW = CodecOptions(document_class=RawBSONDocument)
UNAUTHORIZED = 13
# Commands whose first field names the collection they act on.
COLLECTION_COMMANDS = {
    "create",
    "drop",
    "createIndexes",
    "dropIndexes",
    "collMod",
    "startIndexBuild",
    "commitIndexBuild",
    "abortIndexBuild",
}


def in_scope(entry: RawBSONDocument, scope: NamespaceFilter) -> bool:
    """Whether a dump limited to `scope` keeps the entry: no-ops never; commands when their database is in
    scope (transactions when one of their operations is); the rest by namespace. A restore of the archive
    must not write what the dump left out."""
    op, namespace = entry["op"], str(entry.get("ns", ""))
    if op == "n":
        return False
    if op != "c":
        return scope.accepts(namespace)
    command = entry["o"]
    name = next(iter(command), "")
    database = namespace.split(".", 1)[0]
    if name == "applyOps":
        return any(in_scope(inner, scope) for inner in command["applyOps"])
    if name == "renameCollection":
        return scope.accepts(str(command["renameCollection"])) or scope.accepts(str(command.get("to", "")))
    if name in COLLECTION_COMMANDS and isinstance(command.get(name), str):
        return scope.accepts(f"{database}.{command[name]}")  # a drop of another collection is not ours
    return scope.accepts_database(database)


def add_dump_oplog(
    client: pymongo.MongoClient[Any],
    tar: tarfile.TarFile,
    stamp: str,
    started: datetime,
    start: dict[str, int],
    end: dict[str, int],
    scope: NamespaceFilter,
) -> DumpOplog | None:
    """Adds the entries in (start, end] that `scope` keeps as `<stamp>/oplog.bson` (spooled first: a tar
    member needs its size up front; memory stays bounded by the spool). None when the user may not read the
    oplog (grant read on `local`, as MongoDB's backup role does)."""
    found = DumpOplog()
    digest = hashlib.sha256()
    query = {"ts": {"$gt": Timestamp(start["t"], start["i"]), "$lte": Timestamp(end["t"], end["i"])}}
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        try:
            oplog = client.local.get_collection("oplog.rs", codec_options=_RAW)
            for entry in oplog.find(query).sort("$natural", 1):
                if not in_scope(entry, scope):
                    continue
                spool.write(entry.raw)
                digest.update(entry.raw)
                found.entries += 1
                found.bson_bytes += len(entry.raw)
        except OperationFailure as error:
            if error.code != UNAUTHORIZED:
                raise SourceError(f"cannot read the oplog written during the dump: {error}") from None
            return None  # the backup user may not read `local`: the archive stays as fuzzy as before
        except PyMongoError as error:
            raise SourceError(f"cannot read the oplog written during the dump: {error}") from None
        spool.seek(0)
        add_member(tar, f"{stamp}/{DUMP_OPLOG}", spool, found.bson_bytes, started)
    found.sha256 = digest.hexdigest()
    return found


def read_dump_oplog(storage: Storage, entry: ArchiveEntry, manifest: Manifest | None) -> Iterator[dict[str, Any]]:
    """The archive's oplog.bson entries (up to its `oplog_end`), after the whole archive was read again and
    matched its manifest (or, without one, every entry decoded): nothing is replayed from bytes that changed
    since the restore verified them. Spooled to disk meanwhile."""
    until = Timestamp(manifest.oplog_end["t"], manifest.oplog_end["i"]) if manifest and manifest.oplog_end else None
    name = f"{entry.ref.stamp}/{DUMP_OPLOG}"
    with tempfile.TemporaryFile() as spool:
        with storage.open_read(entry.name) as raw:
            hashed = HashingReader(raw)
            recipients = manifest.recipients if manifest else ()
            with open_archive_stream(entry.ref, hashed, recipients) as plain:  # type: ignore[arg-type]
                tar = tar_reader(plain)
                for member in members(tar, entry.name):
                    if member.name.removeprefix("./") == name and member.isfile():
                        stream = tar.extractfile(member)
                        assert stream is not None
                        for batch in iter_bson(stream, f"{entry.name}: {name}"):
                            spool.write(b"".join(batch))
                while plain.read(1 << 20):
                    pass
            hashed.drain()
        if manifest is not None and hashed.sha256.hexdigest() != manifest.archive_sha256:
            raise VerificationError(f"{entry.name} changed since it was verified: its oplog is not replayed")
        spool.seek(0)
        for batch in iter_bson(spool, f"{entry.name}: {name}"):
            for raw_entry in batch:
                document = RawBSONDocument(raw_entry, _RAW)
                if until is not None and document["ts"] > until:
                    return
                yield bson.decode(raw_entry)


def replay_dump_oplog(
    client: pymongo.MongoClient[Any],
    storage: Storage,
    entry: ArchiveEntry,
    manifest: Manifest | None,
    namespaces: NamespaceFilter,
    renames: tuple[Rename, ...],
) -> int:
    """Replays the archive's own oplog onto what was restored from it; returns the entries replayed."""
    applier = OplogApplier(client, namespaces, renames)
    for item in read_dump_oplog(storage, entry, manifest):
        applier.apply(item)
    return applier.stats.applied + applier.stats.skipped
