"""Staging collections and the in-progress marker: how a restore changes the target only once the archive has
verified end to end, and how a restore cut short is told apart from data.

A restore loads into `<db>.__vaultui_restore_<run>_<n>` while it reads (and checks) the archive, builds the
indexes there, and only then renames each staging collection over its target. Before it changes anything it
writes a marker into `admin.vaultui_restore`; the marker says `staging` while the targets are untouched and
`swapping`/`loading` once they are being replaced. A marker left in one of those two states means a target may
be half-restored: a later restore in if-empty mode redoes the restore instead of skipping, and a guarded one
says so."""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import OperationFailure, PyMongoError

from engine.common.clock import Clock, iso, parse_iso
from engine.common.errors import SourceError
from engine.common.faults import checkpoint
from engine.common.namespaces import MARKER_NAMESPACE, STAGING_PREFIX

# never part of a backup or a restore of user data (system databases are left out)
MARKER_DATABASE, MARKER_COLLECTION = MARKER_NAMESPACE.split(".", 1)
PARTIAL_STATES = ("swapping", "loading")  # states in which a target may hold a partial restore
RENEW_SECONDS = 60.0
STALE_AFTER = timedelta(minutes=10)  # a marker not renewed for this long belongs to a dead run
NOT_IMPLEMENTED = 238  # FerretDB 1.24 answers renameCollection with dropTarget: true with this code


def staging_name(run_id: str, number: int) -> str:
    return f"{STAGING_PREFIX}{run_id}_{number}"


def cannot_rename(collection: str, metadata: dict[str, Any] | None) -> str:
    """Why MongoDB would refuse to rename a staging collection into `collection`, or "" when it will not."""
    if collection.startswith("system."):
        return "MongoDB does not rename collections into system.* names"
    if "timeseries" in ((metadata or {}).get("options") or {}):
        return "MongoDB does not rename time-series collections"
    return ""


class RestoreMarker:
    """The in-progress record of one restore in the target; renewed while the run lives, so that a marker
    nobody renews is known to belong to a dead run."""

    def __init__(self, client: pymongo.MongoClient[Any], run_id: str, archive: str, clock: Clock) -> None:
        self.client = client
        self.run_id = run_id
        self.clock = clock
        self.collection = client[MARKER_DATABASE][MARKER_COLLECTION]
        self.document: dict[str, Any] = {
            "_id": run_id,
            "state": "staging",
            "archive": archive,
            "databases": [],
            "new_databases": [],  # made by this restore's staging: dropped again if the restore fails
            "targets": [],
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": iso(clock()),
        }
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.written = False

    def _save(self) -> None:
        self.document["renewed_at"] = iso(self.clock())
        try:
            self.collection.replace_one({"_id": self.run_id}, self.document, upsert=True)
        except PyMongoError as error:
            raise SourceError(
                f"cannot write the restore marker in {MARKER_DATABASE}.{MARKER_COLLECTION} of the target: {error}"
            ) from None
        self.written = True

    def begin(self) -> None:
        """Written before the target changes at all; renewed from then on until `clear`."""
        self._save()
        checkpoint("restore.marker-written")
        self._renewer = threading.Thread(target=self._renew, name="vaultui-marker", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            try:
                self.document["renewed_at"] = iso(self.clock())
                self.collection.replace_one({"_id": self.run_id}, dict(self.document), upsert=True)
            except PyMongoError:
                pass  # the next phase change writes it again, or says why it cannot

    def add_database(self, database: str) -> None:
        """Staging collections will be made in `database`: recorded first, so a crash leaves none unlisted."""
        if database not in self.document["databases"]:
            self.document["databases"].append(database)
            try:
                # A database exists while it holds a collection: listCollections answers that at once, where
                # listDatabases sizes every database first (0.1-0.2 s of a 1.6 s restore on the bed).
                if not self.client[database].list_collection_names():
                    self.document["new_databases"].append(database)
            except PyMongoError as error:
                raise SourceError(f"cannot list the target's databases: {error}") from None
            self._save()

    def set_state(self, state: str, targets: list[str] | None = None) -> None:
        self.document["state"] = state
        if targets is not None:
            self.document["targets"] = sorted(targets)
        self._save()

    @property
    def partial(self) -> bool:
        """The targets are being replaced: from here a failure must leave the marker behind."""
        return self.document["state"] in PARTIAL_STATES

    def clear(self, *, best_effort: bool = False) -> None:
        self._stop.set()
        if self.written:
            try:
                self.collection.delete_one({"_id": self.run_id})
                self.written = False
                if self.collection.count_documents({}, limit=1) == 0:
                    # No restore's marker left: no empty admin.vaultui_restore behind. A concurrent restore whose
                    # marker lands in between writes it again at its next renewal (an upsert).
                    self.collection.drop()
            except PyMongoError as error:
                if not best_effort:
                    raise SourceError(f"the restore finished but its marker could not be removed: {error}") from None

    def stop(self) -> None:
        """Stops renewing without clearing: the marker stays as evidence of a restore cut short."""
        self._stop.set()


def markers(client: pymongo.MongoClient[Any]) -> list[dict[str, Any]]:
    try:
        return list(client[MARKER_DATABASE][MARKER_COLLECTION].find({}))
    except PyMongoError as error:
        raise SourceError(f"cannot read restore markers in the target: {error}") from None


def is_dead(marker: dict[str, Any], now: datetime) -> bool:
    """Whether the marker's run is gone: not renewed for STALE_AFTER, or from this host and its process is
    not running (a container restarted after a kill sees at once that the run before it died)."""
    try:
        if parse_iso(str(marker.get("renewed_at"))) < now - STALE_AFTER:
            return True
    except ValueError:
        return True
    if marker.get("host") != socket.gethostname():
        return False
    pid = marker.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def partial_restores(client: pymongo.MongoClient[Any]) -> list[dict[str, Any]]:
    """Markers of restores replacing targets now, or that died doing it: those targets may hold partial data.
    Not filtered by age: a pod restarted a second after its restore was killed must see the marker."""
    return [marker for marker in markers(client) if marker.get("state") in PARTIAL_STATES]


def describe(marker: dict[str, Any]) -> str:
    targets = ", ".join(marker.get("targets", [])[:5]) or "its collections"
    return (
        f"a restore of {marker.get('archive', '?')} started {marker.get('started_at', '?')} on "
        f"{marker.get('host', '?')} stopped while replacing {targets}"
    )


def drop_staging(client: pymongo.MongoClient[Any], marker: dict[str, Any]) -> None:
    """Drops every staging collection of one run, and the databases only its staging had made (best effort:
    a failure here leaves only hidden leftovers, which the next restore sweeps)."""
    prefix = f"{STAGING_PREFIX}{marker['_id']}_"
    for database in marker.get("databases", []):
        try:
            for name in client[database].list_collection_names(filter={"name": {"$regex": f"^{prefix}"}}):
                client[database].drop_collection(name)
            if database in marker.get("new_databases", []) and not client[database].list_collection_names():
                client.drop_database(database)
        except PyMongoError:
            continue


def sweep_dead_runs(client: pymongo.MongoClient[Any], now: datetime) -> list[str]:
    """Drops the staging collections of restores that died, and the markers of those that died before they
    changed any target. Markers of partial restores stay until a restore replaces those targets."""
    swept = []
    for marker in markers(client):
        if not is_dead(marker, now):
            continue  # a restore still running (it renews its marker)
        drop_staging(client, marker)
        swept.append(str(marker["_id"]))
        if marker.get("state") not in PARTIAL_STATES:
            forget(client, marker)
    return swept


def forget(client: pymongo.MongoClient[Any], marker: dict[str, Any]) -> None:
    """Removes another run's marker (best effort: one left behind is removed by the next restore)."""
    try:
        client[MARKER_DATABASE][MARKER_COLLECTION].delete_one({"_id": marker["_id"]})
    except PyMongoError:
        pass


def clear_covered(client: pymongo.MongoClient[Any], run_id: str, targets: set[str]) -> None:
    """Removes the partial markers of other runs whose every target this restore has just replaced in full."""
    for marker in partial_restores(client):
        if marker["_id"] != run_id and set(marker.get("targets", [])) <= targets:
            forget(client, marker)


RENAME_REFUSED = {20, 73}  # IllegalOperation, InvalidNamespace: the server will not rename into that name


class Swapper:
    """Renames staging collections over their targets: one atomic `renameCollection … dropTarget` on
    MongoDB; on a server without dropTarget (FerretDB 1.24) a drop then a rename, under the marker. A name
    the server will not rename into (FerretDB refuses dotted collection names there) is copied instead."""

    def __init__(self, client: pymongo.MongoClient[Any]) -> None:
        self.client = client
        self.drop_target = True

    def swap(self, staging: str, target: str) -> bool:
        """True when the staging collection now is the target; False when the server refused that rename
        (nothing changed: the caller copies)."""
        command: dict[str, Any] = {"renameCollection": staging, "to": target}
        try:
            if self.drop_target:
                try:
                    self.client.admin.command({**command, "dropTarget": True})
                    return True
                except OperationFailure as error:
                    if error.code in RENAME_REFUSED:
                        return False
                    if error.code != NOT_IMPLEMENTED:
                        raise
                    self.drop_target = False
            database, _, collection = target.partition(".")
            if self._refuses(staging, target):
                return False
            self.client[database].drop_collection(collection)
            checkpoint("restore.target-dropped")
            self.client.admin.command(command)
            return True
        except PyMongoError as error:
            raise SourceError(f"cannot move the restored {target} into place: {error}") from None
        finally:
            checkpoint("restore.swapped")

    def _refuses(self, staging: str, target: str) -> bool:
        """Whether the server refuses to rename into `target`'s name, asked before the target is dropped: a
        rename of the staging collection to a name beside it that cannot exist yet."""
        database, _, collection = target.partition(".")
        probe = f"{database}.{staging.partition('.')[2]}_{collection}"
        try:
            self.client.admin.command({"renameCollection": staging, "to": probe})
        except OperationFailure as error:
            if error.code in RENAME_REFUSED:
                return True
            raise
        self.client.admin.command({"renameCollection": probe, "to": staging})
        return False


def copy_collection(client: pymongo.MongoClient[Any], staging: str, target: str, batch_documents: int = 1000) -> int:
    """Copies a verified staging collection into its (prepared) target, in bounded batches."""
    source_database, _, source_collection = staging.partition(".")
    target_database, _, target_collection = target.partition(".")
    source = client[source_database].get_collection(
        source_collection, codec_options=CodecOptions(document_class=RawBSONDocument)
    )
    destination = client[target_database][target_collection]
    copied = 0
    batch: list[RawBSONDocument] = []
    try:
        for document in source.find({}, batch_size=batch_documents):
            batch.append(document)
            if len(batch) >= batch_documents:
                destination.insert_many(batch, ordered=True)
                copied += len(batch)
                batch = []
        if batch:
            destination.insert_many(batch, ordered=True)
            copied += len(batch)
    except PyMongoError as error:
        raise SourceError(f"cannot copy the restored {target} into place: {error}") from None
    return copied
