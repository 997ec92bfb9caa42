"""The native dumper: streams each collection's raw BSON from pymongo into the archive, collections in parallel."""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pymongo
from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo.errors import PyMongoError

from engine.archive.bson_check import count_documents
from engine.archive.collection_files import collection_stem
from engine.archive.format import add_bytes, add_member
from engine.archive.manifest import CollectionEntry
from engine.common.errors import SourceError
from engine.common.progress import ProgressTracker
from engine.mongo.connect import CollectionPlan


@dataclass
class DumpedCollection:
    """One collection spooled to a temporary file, ready to go into the tar."""

    plan: CollectionPlan
    entry: CollectionEntry
    metadata: bytes
    spool: IO[bytes] | None  # None for views, which have no documents


def metadata_json(plan: CollectionPlan, indexes: list[dict[str, Any]]) -> bytes:
    """The <collection>.metadata.json mongodump writes: options, indexes, uuid, name and type, in MongoDB's
    canonical extended JSON so that mongorestore reads back exact types."""
    document: dict[str, Any] = {"options": plan.options, "indexes": indexes}
    if plan.uuid:
        document["uuid"] = plan.uuid
    document["collectionName"] = plan.collection
    document["type"] = plan.type
    return json_util.dumps(document, json_options=CANONICAL_JSON_OPTIONS).encode()


def dump_collection(
    client: pymongo.MongoClient[Any], plan: CollectionPlan, spool_dir: Path | None, tracker: ProgressTracker
) -> DumpedCollection:
    """Spools one collection's documents, as the server sent them, and its metadata."""
    database = client[plan.database]
    entry = CollectionEntry(plan.database, plan.collection, plan.type)
    try:
        if plan.type == "view":
            return DumpedCollection(plan, entry, metadata_json(plan, []), None)
        collection = database[plan.collection]
        indexes = [{key: value for key, value in index.items() if key != "ns"} for index in collection.list_indexes()]
        spool = tempfile.TemporaryFile(dir=spool_dir, prefix="vaultui-dump-")
        digest = hashlib.sha256()
        try:
            for batch in collection.find_raw_batches(batch_size=1000):
                spool.write(batch)
                digest.update(batch)
                documents = count_documents(batch)
                entry.documents += documents
                entry.bson_bytes += len(batch)
                tracker.advance(byte_count=len(batch), documents=documents, current=plan.namespace)
        except BaseException:
            spool.close()
            raise
        entry.bson_sha256 = digest.hexdigest()
        spool.seek(0)
        return DumpedCollection(plan, entry, metadata_json(plan, indexes), spool)
    except PyMongoError as error:
        raise SourceError(f"dumping {plan.namespace} failed: {error}") from None


def dump_into_tar(
    client: pymongo.MongoClient[Any],
    plans: list[CollectionPlan],
    tar: tarfile.TarFile,
    stamp: str,
    started: datetime,
    tracker: ProgressTracker,
    *,
    parallel: int = 4,
    spool_dir: Path | None = None,
    on_collection: Callable[[CollectionEntry], None] | None = None,
) -> list[CollectionEntry]:
    """Dumps `plans` with up to `parallel` collections at once; the tar is written by this thread only, each
    collection as soon as it is spooled, so disk use is bounded by the collections in flight."""
    entries: list[CollectionEntry] = []

    def add_to_tar(dumped: DumpedCollection) -> None:
        # The file names mongodump itself would write (escaped, long ones shortened): engine.archive.collection_files.
        folder = f"{stamp}/{dumped.plan.database}/{collection_stem(dumped.plan.collection)}"
        # Metadata first: a one-pass reader can then create the collection (options, collation) before its data.
        add_bytes(tar, f"{folder}.metadata.json", dumped.metadata, started)
        if dumped.spool is not None:
            with dumped.spool:
                add_member(tar, f"{folder}.bson", dumped.spool, dumped.entry.bson_bytes, started)
        entries.append(dumped.entry)
        if on_collection:
            on_collection(dumped.entry)

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="vaultui-dump") as pool:
        pending: set[Future[DumpedCollection]] = {
            pool.submit(dump_collection, client, plan, spool_dir, tracker) for plan in plans
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    add_to_tar(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            for future in pending:  # close the spools of collections that finished meanwhile
                if not future.cancelled() and future.exception() is None:
                    spool = future.result().spool
                    if spool is not None:
                        spool.close()
            raise
    entries.sort(key=lambda entry: entry.namespace)
    return entries
