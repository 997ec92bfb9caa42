"""The native loader: takes an archive's collections as they are read (no extraction to disk) and inserts raw
BSON batches with parallel workers, then builds indexes from the metadata, collections in parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pymongo
from bson.raw_bson import RawBSONDocument
from bson.son import SON
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, CollectionInvalid, PyMongoError

from engine.common.errors import SourceError
from engine.common.progress import ProgressTracker
from engine.common.remap import split_namespace
from engine.mongo.indexes import index_specs
from engine.restore.concurrency import InsertGate

DUPLICATE_KEY = 11000
NAMESPACE_EXISTS = 48
# Options that describe a collection rather than configure it: never passed back to `create`.
# The `create` options a restore passes on from an archive's metadata (MongoDB 4.2 to 8.0); anything else an
# archive says (uuid and idIndex describe a collection rather than configure it; unknown or hostile keys) stays
# out of the command sent to the server.
CREATE_OPTIONS = frozenset(
    {
        "capped",
        "size",
        "max",
        "autoIndexId",
        "storageEngine",
        "validator",
        "validationLevel",
        "validationAction",
        "indexOptionDefaults",
        "viewOn",
        "pipeline",
        "collation",
        "timeseries",
        "expireAfterSeconds",
        "clusteredIndex",
        "changeStreamPreAndPostImages",
        "encryptedFields",
    }
)


@dataclass(frozen=True)
class LoadItem:
    """One namespace to restore: where it comes from in the archive, where it goes, and its metadata."""

    source: str
    target: str
    type: str
    metadata: dict[str, Any] = field(hash=False, compare=False)
    documents: int = 0
    bson_bytes: int = 0
    stem: str = ""  # the collection's file name in the archive, as written (see engine.archive.collection_files)

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
    """The archived collection options that go into `create`: the allow-listed ones only."""
    return {key: value for key, value in metadata.get("options", {}).items() if key in CREATE_OPTIONS}


def prepare_targets(client: pymongo.MongoClient[Any], items: list[LoadItem], drop: bool) -> None:
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


def create_views(client: pymongo.MongoClient[Any], items: list[LoadItem], *, replace: bool = False) -> None:
    """Creates the views among `items` (after the collections they read); `replace` drops one there first."""
    for item in items:
        if item.type != "view":
            continue
        database_name, collection_name = split_namespace(item.target)
        options = create_options(item.metadata)
        try:
            if replace:
                client[database_name].drop_collection(collection_name)
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
    client: pymongo.MongoClient[Any],
    items: list[LoadItem],
    parallel: int,
    *,
    keep_specs: bool = False,
    locations: dict[str, str] | None = None,
) -> IndexOutcome:
    """Builds every collection's indexes, `parallel` collections at a time, where `locations` says each
    target's documents are (a staging collection), else on the target. Legacy specs are normalised first
    (unless `keep_specs`). An index the target refuses does not stop the others: it is listed in the outcome."""

    def build(item: LoadItem) -> IndexOutcome:
        if item.type != "collection":
            return IndexOutcome()
        specs, changes = index_specs(item.metadata.get("indexes", []), item.target, keep_specs=keep_specs)
        done = IndexOutcome(changes=changes)
        if not specs:
            return done
        database_name, collection_name = split_namespace((locations or {}).get(item.target, item.target))
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


class BatchInserter:
    """Inserts raw BSON batches with `workers` threads while the reader goes on, as many at once as the gate
    finds the server is fastest with (engine.restore.concurrency). At most two batches per worker wait, so
    memory stays bounded whatever the archive size; the first failure is raised to the reader at its next
    batch, and again by `finish`."""

    def __init__(self, workers: int) -> None:
        self.gate = InsertGate(workers)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="vaultui-insert")
        self._slots = threading.BoundedSemaphore(max(1, workers) * 2)
        self._failures: list[BaseException] = []
        self._in_flight: set[Future[None]] = set()

    def submit(
        self, collection: Collection[Any], batch: list[bytes], target: str, stats: LoadStats, tracker: ProgressTracker
    ) -> None:
        self._slots.acquire()
        if self._failures:
            self._slots.release()
            raise self._failures[0]
        size = sum(len(document) for document in batch)
        future = self._pool.submit(_insert, self.gate, collection, batch, target, stats, tracker, size)
        self._in_flight.add(future)
        future.add_done_callback(self._settle)
        self._in_flight -= {done for done in self._in_flight if done.done()}

    def _settle(self, future: Future[None]) -> None:
        self._slots.release()
        if not future.cancelled() and future.exception() is not None:
            self._failures.append(future.exception())  # type: ignore[arg-type]

    def finish(self) -> None:
        """Waits for every batch; raises the first failure."""
        self._pool.shutdown(wait=True)
        if self._failures:
            raise self._failures[0]

    def cancel(self) -> None:
        """Drops queued batches; the running ones end before this returns (nothing writes afterwards)."""
        for future in self._in_flight:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _insert(
    gate: InsertGate,
    collection: Collection[Any],
    batch: list[bytes],
    target: str,
    stats: LoadStats,
    tracker: ProgressTracker,
    byte_count: int,
) -> None:
    documents = [RawBSONDocument(raw) for raw in batch]
    duplicates = 0
    gate.enter()  # only as many inserts at once as the server is fastest with
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
    finally:
        gate.leave(byte_count)
    stats.add(target, len(batch) - duplicates, duplicates)
    tracker.advance(byte_count=byte_count, documents=len(batch), current=target)


@dataclass(frozen=True)
class Destination:
    """Where one archived collection's documents go, and whether to create it there first."""

    database: str
    collection: str
    create: bool = True  # False when the collection is already prepared (direct loads into the targets)

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.collection}"


@dataclass(frozen=True)
class Deferred:
    """A collection that cannot be loaded during this read, and why (it is loaded once the read verified)."""

    reason: str


# Given an archived collection's files (database folder, file stem) and its metadata when already read,
# where its documents go: a Destination, a Deferred reason, or None to leave it out.
Resolver = Callable[[str, str, "dict[str, Any] | None"], "Destination | Deferred | None"]


@dataclass
class Landing:
    """What a load did with one archived collection."""

    destination: Destination | None = None
    deferred: str = ""
    created: bool = False


class LoadSink:
    """Takes the collections scan_archive reads and inserts their documents where the resolver says,
    creating each destination first, with its archived options when its metadata came before its data."""

    def __init__(
        self, client: pymongo.MongoClient[Any], resolver: Resolver, tracker: ProgressTracker, insert_workers: int
    ) -> None:
        self.client = client
        self.resolver = resolver
        self.tracker = tracker
        self.landings: dict[tuple[str, str], Landing] = {}
        self.stats = LoadStats()
        self.inserter = BatchInserter(insert_workers)

    def _landing(self, database: str, stem: str, metadata: dict[str, Any] | None) -> Landing:
        key = (database, stem)
        landing = self.landings.get(key)
        if landing is None:
            answer = self.resolver(database, stem, metadata)
            landing = Landing()
            if isinstance(answer, Deferred):
                landing.deferred = answer.reason
            else:
                landing.destination = answer
            self.landings[key] = landing
            if landing.destination is not None and (metadata or {}).get("type", "collection") == "collection":
                self._create(landing, metadata)
        return landing

    def _create(self, landing: Landing, metadata: dict[str, Any] | None) -> None:
        destination = landing.destination
        assert destination is not None
        landing.created = True
        if not destination.create:
            return
        options = create_options(metadata or {})
        try:
            self.client[destination.database].command(SON([("create", destination.collection), *options.items()]))
        except PyMongoError as error:
            if getattr(error, "code", None) != NAMESPACE_EXISTS:
                raise SourceError(f"cannot create {destination.namespace} in the target: {error}") from None

    def metadata(self, database: str, stem: str, metadata: dict[str, Any]) -> None:
        known = (database, stem) in self.landings
        landing = self._landing(database, stem, metadata)
        if known and landing.created and create_options(metadata) and not landing.deferred:
            # Its data came first and went into a collection made without these options: load it again later.
            landing.deferred = "its collection options come after its documents in the archive"

    def documents(self, database: str, stem: str, batch: list[bytes]) -> None:
        landing = self._landing(database, stem, None)
        if landing.destination is None or landing.deferred:
            return
        destination = landing.destination
        collection = self.client[destination.database][destination.collection]
        self.inserter.submit(collection, batch, destination.namespace, self.stats, self.tracker)

    def finish(self) -> None:
        self.inserter.finish()

    def cancel(self) -> None:
        self.inserter.cancel()


def check_counts(loaded: list[tuple[LoadItem, str]], stats: LoadStats) -> None:
    """Every document the archive holds was inserted (where `loaded` says each item went) or met as a
    duplicate: otherwise the restore lies."""
    for item, namespace in loaded:
        seen = stats.inserted.get(namespace, 0) + stats.duplicates.get(namespace, 0)
        if seen != item.documents:
            raise SourceError(f"{item.target} received {seen} documents, but the archive holds {item.documents}")
