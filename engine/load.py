"""The native loader: streams an archive from storage straight into MongoDB (no extraction to disk), inserting
raw BSON batches with parallel workers, then builds indexes from the metadata, collections in parallel."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pymongo
from bson.raw_bson import RawBSONDocument
from bson.son import SON
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, CollectionInvalid, PyMongoError

from engine.archive import MemberPath, check_member, iter_bson, open_decompressor, tar_reader
from engine.catalog import ArchiveEntry
from engine.errors import SourceError, VerificationError
from engine.indexes import index_specs
from engine.progress import ProgressTracker
from engine.remap import split_namespace
from engine.storage import Storage
from engine.verify import READ_ERRORS

DUPLICATE_KEY = 11000
# Options that describe a collection rather than configure it: never passed back to `create`.
_NOT_CREATE_OPTIONS = {"uuid", "idIndex"}


@dataclass(frozen=True)
class LoadItem:
    """One namespace to restore: where it comes from in the archive, where it goes, and its metadata."""

    source: str
    target: str
    type: str
    metadata: dict[str, Any] = field(hash=False, compare=False)
    documents: int = 0
    bson_bytes: int = 0
    stem: str = ""  # the collection's file name in the archive, as written (see engine.names)

    @property
    def member_key(self) -> tuple[str, str]:
        """(database folder, file stem): how the tar names this namespace's files."""
        return split_namespace(self.source)[0], self.stem


@dataclass
class LoadStats:
    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    indexes_built: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, target: str, inserted: int, duplicates: int) -> None:
        with self._lock:
            self.inserted[target] = self.inserted.get(target, 0) + inserted
            if duplicates:
                self.duplicates[target] = self.duplicates.get(target, 0) + duplicates


def create_options(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.get("options", {}).items() if key not in _NOT_CREATE_OPTIONS}


def prepare_targets(client: pymongo.MongoClient, items: list[LoadItem], drop: bool) -> None:
    """Drops (when asked) and creates each target collection with its archived options, before any data."""
    for item in items:
        database_name, collection_name = split_namespace(item.target)
        database = client[database_name]
        try:
            if drop:
                database.drop_collection(collection_name)
            if item.type == "view":
                continue  # created after the data, since a view may read any collection
            # Created even without options: an empty collection is part of the dump (mongorestore makes it too).
            options = create_options(item.metadata)
            if collection_name not in database.list_collection_names(filter={"name": collection_name}):
                database.command(SON([("create", collection_name), *options.items()]))
        except CollectionInvalid:
            continue
        except PyMongoError as error:
            raise SourceError(f"cannot prepare {item.target} in the target: {error}") from None


def create_views(client: pymongo.MongoClient, items: list[LoadItem]) -> None:
    for item in items:
        if item.type != "view":
            continue
        database_name, collection_name = split_namespace(item.target)
        options = create_options(item.metadata)
        try:
            client[database_name].command(SON([("create", collection_name), *options.items()]))
        except PyMongoError as error:
            raise SourceError(f"cannot create view {item.target} in the target: {error}") from None


@dataclass
class IndexOutcome:
    """What building the indexes did: how many were built, the specs changed on the way (one line each), and
    the indexes the target refused (namespace, index name, the server's message)."""

    built: int = 0
    changes: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)


def build_indexes(
    client: pymongo.MongoClient, items: list[LoadItem], parallel: int, *, keep_specs: bool = False
) -> IndexOutcome:
    """Builds every collection's indexes, `parallel` collections at a time. Legacy specs are normalised first
    (unless `keep_specs`). An index the target refuses does not stop the others: it is listed in the outcome."""

    def build(item: LoadItem) -> IndexOutcome:
        if item.type != "collection":
            return IndexOutcome()
        specs, changes = index_specs(item.metadata.get("indexes", []), item.target, keep_specs=keep_specs)
        done = IndexOutcome(changes=changes)
        if not specs:
            return done
        database_name, collection_name = split_namespace(item.target)
        database = client[database_name]
        try:
            database.command(SON([("createIndexes", collection_name), ("indexes", specs)]))
            done.built = len(specs)
        except PyMongoError:
            # One refusal fails the whole command: build them one by one to keep every index the target takes.
            for spec in specs:
                try:
                    database.command(SON([("createIndexes", collection_name), ("indexes", [spec])]))
                    done.built += 1
                except PyMongoError as error:
                    done.refused.append((item.target, str(spec.get("name", "?")), _server_message(error)))
        return done

    outcome = IndexOutcome()
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="vaultui-index") as pool:
        for done in pool.map(build, items):
            outcome.built += done.built
            outcome.changes += done.changes
            outcome.refused += done.refused
    outcome.refused.sort()
    return outcome


def _server_message(error: PyMongoError) -> str:
    details = getattr(error, "details", None)
    if isinstance(details, dict) and details.get("errmsg"):
        return str(details["errmsg"])
    return str(error).split(", full error:")[0]


def _insert(
    collection: Collection, batch: list[bytes], target: str, stats: LoadStats, tracker: ProgressTracker, byte_count: int
) -> None:
    documents = [RawBSONDocument(raw) for raw in batch]
    duplicates = 0
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        others = [item for item in errors if item.get("code") != DUPLICATE_KEY]
        if others:
            raise SourceError(f"inserting into {target} failed: {others[0].get('errmsg', others[0])}") from None
        duplicates = len(errors)
    except PyMongoError as error:
        raise SourceError(f"inserting into {target} failed: {error}") from None
    stats.add(target, len(batch) - duplicates, duplicates)
    tracker.advance(byte_count=byte_count, documents=len(batch), current=target)


def stream_documents(
    storage: Storage,
    entry: ArchiveEntry,
    client: pymongo.MongoClient,
    items: dict[tuple[str, str], LoadItem],
    tracker: ProgressTracker,
    *,
    insert_workers: int = 4,
) -> LoadStats:
    """Reads the archive once and inserts the documents of every namespace in `items`. The reader thread
    decompresses and frames; `insert_workers` threads insert batches. At most two batches per worker wait,
    so memory stays bounded whatever the archive size."""
    stats = LoadStats()
    slots = threading.BoundedSemaphore(max(1, insert_workers) * 2)
    failures: list[BaseException] = []
    in_flight: set[Future[None]] = set()

    def settle(future: Future[None]) -> None:
        slots.release()
        if not future.cancelled() and future.exception() is not None:
            failures.append(future.exception())  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=max(1, insert_workers), thread_name_prefix="vaultui-insert") as pool:
        try:
            with storage.open_read(entry.name) as raw:
                with open_decompressor(entry.ref.codec, raw) as plain, tar_reader(plain) as tar:
                    for member in tar:
                        where = check_member(member, entry.name)
                        if not isinstance(where, MemberPath) or where.kind != "bson":
                            continue
                        item = items.get((where.database, where.stem))
                        if item is None or item.type != "collection":
                            continue
                        stream = tar.extractfile(member)
                        assert stream is not None
                        database_name, collection_name = split_namespace(item.target)
                        collection = client[database_name][collection_name]
                        for batch in iter_bson(stream, f"{entry.name}: {member.name}"):
                            slots.acquire()
                            if failures:
                                slots.release()
                                raise failures[0]
                            size = sum(len(document) for document in batch)
                            future = pool.submit(_insert, collection, batch, item.target, stats, tracker, size)
                            in_flight.add(future)
                            future.add_done_callback(settle)
                            in_flight -= {done for done in in_flight if done.done()}
        except BaseException as error:
            for future in in_flight:  # stop queued inserts; the running ones finish before the pool closes
                future.cancel()
            if isinstance(error, READ_ERRORS):
                raise VerificationError(f"{entry.name} broke while restoring: {error}") from None
            raise
    if failures:
        raise failures[0]
    _check_counts(items, stats)
    return stats


def _check_counts(items: dict[str, LoadItem], stats: LoadStats) -> None:
    """Every document the archive holds was inserted or met as a duplicate: otherwise the restore lies."""
    for item in items.values():
        if item.type != "collection":
            continue
        seen = stats.inserted.get(item.target, 0) + stats.duplicates.get(item.target, 0)
        if seen != item.documents:
            raise SourceError(f"{item.target} received {seen} documents, but the archive holds {item.documents}")
