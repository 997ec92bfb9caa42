"""Restore drills: the evidence for the recovery-time promise. Restores an archive into scratch databases,
checks every document against the archive, drops the scratch data, records the duration against the RTO."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import PyMongoError

from engine.common.clock import Clock, utc_now
from engine.common.errors import SourceError, VerificationError
from engine.common.namespaces import DRILL_DATABASE_PREFIX
from engine.common.progress import ProgressCallback
from engine.common.redact import hosts_of
from engine.common.remap import Rename, split_namespace
from engine.common.states import RestoreStatus, RunKind
from engine.evidence.ledger import RunRecord, recorded_run
from engine.evidence.verify import CollectionFound, add_to_digest
from engine.mongo.connect import connect
from engine.restore.choose import choose_verified, plan_items
from engine.restore.context import RestoreRun
from engine.restore.request import RestoreRequest
from engine.restore.result import RestoreResult
from engine.restore.two_pass import load_into
from engine.sla.rto import DEFAULT_RTO_SECONDS, rto_met
from engine.storage import Storage

SCRATCH_PREFIX = DRILL_DATABASE_PREFIX
_MAX_DATABASE_NAME = 63


@dataclass
class DrillResult:
    archive: str
    duration_seconds: float
    rto_seconds: float
    namespaces: int
    documents: int
    mismatches: list[str] = field(default_factory=list)
    record: RunRecord | None = None

    @property
    def rto_met(self) -> bool:
        return rto_met(self.duration_seconds, self.rto_seconds)


def scratch_names(databases: list[str]) -> dict[str, str]:
    """A scratch database per archived database, unique and within MongoDB's name length."""
    names: dict[str, str] = {}
    for index, database in enumerate(sorted(databases)):
        name = (SCRATCH_PREFIX + database)[:_MAX_DATABASE_NAME]
        if name in names.values():
            name = f"{name[: _MAX_DATABASE_NAME - 4]}_{index:03d}"
        names[database] = name
    return names


def compare_collection(client: pymongo.MongoClient[Any], target: str, expected: CollectionFound) -> str | None:
    """None when the target collection holds exactly the archived documents, else what differs."""
    database_name, collection_name = split_namespace(target)
    collection = client[database_name].get_collection(
        collection_name, codec_options=CodecOptions(document_class=RawBSONDocument)
    )
    count, digest = 0, 0
    for document in collection.find():
        count += 1
        digest = add_to_digest(digest, document.raw)
    if count != expected.documents:
        return f"{target} holds {count} documents, the archive {expected.documents}"
    if digest != expected.unordered_digest:
        return f"{target} holds {count} documents whose contents differ from the archive"
    return None


def run_drill(
    storage: Storage,
    target_uri: str,
    *,
    archive: str | None = None,
    rto_seconds: float = DEFAULT_RTO_SECONDS,
    insert_workers: int = 4,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
) -> DrillResult:
    """Restores `archive` (or the latest good one) into scratch databases on the target and checks it.
    The scratch databases are dropped afterwards, whether the drill passed or not."""
    request = RestoreRequest(
        latest=archive is None, archive=archive, rto_seconds=rto_seconds, insert_workers=insert_workers
    )
    details = {"rto_seconds": rto_seconds, "target": hosts_of(target_uri)}
    with recorded_run(storage, RunKind.DRILL, clock, [target_uri], details=details) as record:
        request.validate()
        began = time.monotonic()
        entry, report, _ = choose_verified(storage, request, progress, clock, digests=True)
        record.archive = entry.name
        scratch = scratch_names(sorted({namespace.split(".", 1)[0] for namespace in report.collections}))
        renamed = RestoreRequest(
            archive=entry.name,
            insert_workers=insert_workers,
            rto_seconds=rto_seconds,
            renames=tuple(Rename(f"{database}.*", f"{name}.*") for database, name in scratch.items()),
        )
        items = plan_items(report, renamed)
        client = connect(target_uri, role="drill target")
        try:
            for name in scratch.values():
                client.drop_database(name)  # leftovers of an interrupted drill: ours by name
            loaded = RestoreResult(entry.name, RestoreStatus.RESTORED, [], rto_seconds=rto_seconds)
            run = RestoreRun(storage, client, renamed, target_uri, clock=clock, progress=progress, mode=renamed.mode)
            load_into(run, entry, report, items, loaded)
            duration = round(time.monotonic() - began, 3)
            mismatches = [
                problem
                for item in items
                if item.type == "collection"
                if (problem := compare_collection(client, item.target, report.collections[item.source]))
            ]
        except PyMongoError as error:
            raise SourceError(f"the drill failed on the target: {error}") from None
        finally:
            for name in scratch.values():
                try:
                    client.drop_database(name)
                except PyMongoError:
                    pass  # reported by the next drill, which drops leftovers first
            client.close()
        result = DrillResult(entry.name, duration, rto_seconds, len(items), loaded.documents, mismatches)
        record.duration_seconds = duration
        record.documents = loaded.documents
        record.bytes = entry.size
        details.update(rto_met=result.rto_met, namespaces=len(items), mismatches=mismatches)
        if mismatches:
            raise VerificationError(f"drill of {entry.name} found differences: {'; '.join(mismatches[:3])}")
    result.record = record
    return result
