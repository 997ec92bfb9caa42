"""The sidecar manifest written after an archive is complete: its presence is the archive's commit mark."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from engine.archive.format import ArchiveRef
from engine.common.errors import VerificationError
from engine.common.namespaces import NamespaceFilter
from engine.common.schemas import SchemaError, decode
from engine.storage import Storage, read_bytes, write_bytes

# 1: vaultui 0.1, collection files named by their raw names. 2: named as mongodump names them (escaped,
# long names shortened; engine.archive.collection_files), and `read_back` says whether the stored archive was re-read.
MANIFEST_FORMAT = 2


@dataclass
class CollectionEntry:
    """One collection (or view) in an archive, as dumped."""

    database: str
    collection: str
    type: str = "collection"
    documents: int = 0
    bson_bytes: int = 0
    bson_sha256: str = ""

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.collection}"


@dataclass
class DumpOplog:
    """The archive's own oplog.bson (engine.pitr.dump_oplog): the entries after `oplog_start` up to `oplog_end`."""

    entries: int = 0
    bson_bytes: int = 0
    sha256: str = ""


@dataclass
class Encryption:
    """How the archive's bytes are sealed: `recipients` are the age public keys (age1…) it was encrypted to,
    so anyone can tell which identity opens it. The manifest itself stays plain: it holds names and counts,
    never document content."""

    scheme: str = "age"
    recipients: list[str] = field(default_factory=list)


def dump_origin(server_version: str, dumper: str) -> str:
    """"dumped from MongoDB 7.0.14 by mongodump 100.10.0": what list, verify and the dashboard say made a dump."""
    return f"dumped from MongoDB {server_version or '?'} by {dumper}"


@dataclass
class Manifest:
    """What an archive holds and how it was made. Written last, so a manifest means a complete archive."""

    archive: str
    stamp: str
    codec: str
    archive_bytes: int
    archive_sha256: str
    started_at: str
    finished_at: str
    duration_seconds: float
    server_version: str
    dumper: str
    tool_version: str
    # The oplog timestamps ({"t": seconds, "i": increment}) the dump began and ended at, on a replica set:
    # the archive holds every write up to `start`, and point-in-time recovery replays from `start` on.
    # None on a standalone server, which has no oplog.
    oplog_start: dict[str, int] | None = None
    oplog_end: dict[str, int] | None = None
    # Replica set: the entries written during the dump, in <stamp>/oplog.bson, so that a restore (or
    # `mongorestore --oplogReplay`) is consistent at `oplog_end`. None on a standalone server: there the
    # archive is as fuzzy as any dump of a live database (writes during the dump may be partly in it).
    dump_oplog: DumpOplog | None = None
    # What the backup was asked to cover ({"databases", "include", "exclude"}): a restore to a time replays
    # the oplog only within it. None in archives made before it was recorded (then nothing narrows replay).
    scope: dict[str, list[str]] | None = None
    collections: list[CollectionEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # True when the backup re-read the stored archive and it matched everything above before this manifest
    # was written; False when the user turned that off (--no-read-back).
    read_back: bool = False
    # None: a plain archive. Its sha256 and size above are those of the stored (encrypted) bytes.
    encryption: Encryption | None = None
    format: int = MANIFEST_FORMAT

    @property
    def origin(self) -> str:
        """What made the dump, in the words verify uses for mongodump's prelude.json."""
        return dump_origin(self.server_version, "vaultui's native dumper" if self.dumper == "native" else self.dumper)

    @property
    def recipients(self) -> list[str]:
        return self.encryption.recipients if self.encryption is not None else []

    def scope_filter(self) -> NamespaceFilter | None:
        if self.scope is None:
            return None
        return NamespaceFilter(
            databases=tuple(self.scope.get("databases", [])),
            include=tuple(self.scope.get("include", [])),
            exclude=tuple(self.scope.get("exclude", [])),
        )

    @property
    def documents(self) -> int:
        return sum(entry.documents for entry in self.collections)

    @property
    def bson_bytes(self) -> int:
        return sum(entry.bson_bytes for entry in self.collections)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=False).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        """A manifest is evidence: every field must have its type, or the archive cannot be trusted."""
        try:
            return decode(data, cls, f"manifest {where}")
        except SchemaError as error:
            raise VerificationError(f"{error}: the archive cannot be trusted") from None


def write_manifest(storage: Storage, ref: ArchiveRef, manifest: Manifest) -> None:
    write_bytes(storage, ref.manifest_key, manifest.to_json())


def read_manifest(storage: Storage, ref: ArchiveRef) -> Manifest | None:
    """The archive's manifest, or None when it has none (legacy, or never completed)."""
    if storage.stat(ref.manifest_key) is None:
        return None
    return Manifest.from_json(read_bytes(storage, ref.manifest_key), ref.manifest_key)
