"""Replays MongoDB oplog entries (4.2 and later) onto a server, idempotently: what point-in-time recovery
applies on top of a base archive.

Every entry may be applied again without changing the result (a replay that was cut short is simply run
again): inserts are upserts by `_id`, updates are applied to the document they name, deletes of a missing
document do nothing, and commands that already took effect (a collection that exists, an index already
built) are taken as done. Transactions are applied when they commit: `applyOps` entries marked `partialTxn`
or `prepare` wait (by session and transaction number) for their last part or for `commitTransaction`, and
are dropped on `abortTransaction`. Namespace filters and renames apply to every entry, inside transactions
too."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pymongo
from bson.son import SON
from pymongo.errors import OperationFailure, PyMongoError

from engine.common.errors import SourceError
from engine.common.namespaces import BothFilters, NamespaceFilter, vaultui_database, vaultui_namespace
from engine.common.remap import Rename, rename, split_namespace
from engine.mongo.indexes import index_specs

# Server error codes that mean "already so": replaying an entry whose effect is there already.
ALREADY = {
    26,  # NamespaceNotFound: dropping what is gone
    27,  # IndexNotFound
    48,  # NamespaceExists: creating what exists
    85,  # IndexOptionsConflict: the index exists
    86,  # IndexKeySpecsConflict
}
# Commands with nothing to replay: index builds are replayed at their commit, the rest are bookkeeping.
SKIPPED_COMMANDS = {"startIndexBuild", "abortIndexBuild", "emptycapped", "dbCheck"}


class OplogError(SourceError):
    """An entry the applier cannot replay (the message names the entry's time and namespace)."""


@dataclass
class ApplyStats:
    applied: int = 0
    skipped: int = 0  # filtered out, no-ops, bookkeeping
    by_op: Counter[str] = field(default_factory=Counter)


def apply_diff(document: dict[str, Any], diff: dict[str, Any]) -> dict[str, Any]:
    """A document with a `$v: 2` update diff (MongoDB 5.0+ oplog) applied: `d` deletes fields, `u` and `i`
    set them, `s<field>` descends into a sub-document or an array (`a: true`; `l` resizes, `u<i>` sets an
    element, `s<i>` descends into one)."""
    result = copy.deepcopy(document)
    _apply_object_diff(result, diff)
    return result


def _apply_object_diff(target: dict[str, Any], diff: dict[str, Any]) -> None:
    for name in diff.get("d", {}):
        target.pop(name, None)
    for section in ("u", "i"):
        for name, value in diff.get(section, {}).items():
            target[name] = value
    for key, sub in diff.items():
        if key.startswith("s") and len(key) > 1:
            name = key[1:]
            if sub.get("a") is True:
                current = target.get(name)
                target[name] = _apply_array_diff(current if isinstance(current, list) else [], sub)
            else:
                current = target.get(name)
                if not isinstance(current, dict):
                    current = {}
                _apply_object_diff(current, sub)
                target[name] = current


def _apply_array_diff(array: list[Any], diff: dict[str, Any]) -> list[Any]:
    result = list(array)
    if "l" in diff:
        length = int(diff["l"])
        result = result[:length] + [None] * max(0, length - len(result))
    for key, value in diff.items():
        if key in ("a", "l") or len(key) < 2 or not key[1:].isdigit():
            continue
        index = int(key[1:])
        while len(result) <= index:
            result.append(None)
        if key[0] == "u":
            result[index] = value
        elif key[0] == "s":
            element = result[index]
            if value.get("a") is True:
                result[index] = _apply_array_diff(element if isinstance(element, list) else [], value)
            else:
                element = element if isinstance(element, dict) else {}
                _apply_object_diff(element, value)
                result[index] = element
    return result


class OplogApplier:
    """Applies entries one by one (`apply`), in oplog order."""

    def __init__(
        self,
        client: pymongo.MongoClient[Any],
        namespaces: NamespaceFilter | BothFilters | None = None,
        renames: tuple[Rename, ...] = (),
    ) -> None:
        self.client = client
        self.namespaces = namespaces or NamespaceFilter()
        self.renames = renames
        self.stats = ApplyStats()
        self._open: dict[tuple[Any, Any], list[dict[str, Any]]] = {}  # transactions waiting for their commit

    def pending_transactions(self) -> int:
        """Transactions begun and neither committed nor aborted (at the end of a replay: left out)."""
        return len(self._open)

    def apply(self, entry: dict[str, Any]) -> None:
        op = entry.get("op")
        try:
            if op == "n":
                self._skip()
            elif op in ("i", "u", "d"):
                self._crud(entry)
            elif op == "c":
                self._command(entry)
            else:
                raise OplogError(f"unknown oplog operation {op!r} at {entry.get('ts')} on {entry.get('ns')}")
        except OperationFailure as error:
            if error.code not in ALREADY:
                raise OplogError(
                    f"replaying the {op} entry at {entry.get('ts')} on {entry.get('ns')} failed: {error}"
                ) from None
            self.stats.applied += 1
        except PyMongoError as error:
            raise OplogError(f"replaying the entry at {entry.get('ts')} on {entry.get('ns')} failed: {error}") from None

    def _skip(self) -> None:
        self.stats.skipped += 1

    def _target(self, namespace: str) -> str | None:
        """Where an entry for `namespace` goes, or None when the filters leave it out. vaultui's own namespaces
        (staging, marker, drills) are always left out: chunks captured before the capture skipped them hold
        them."""
        if vaultui_namespace(namespace) or not self.namespaces.accepts(namespace):
            return None
        return rename(namespace, self.renames)

    def _collection(self, namespace: str) -> Any:
        database, collection = split_namespace(namespace)
        return self.client[database][collection]

    def _crud(self, entry: dict[str, Any]) -> None:
        target = self._target(str(entry.get("ns", "")))
        if target is None:
            self._skip()
            return
        collection = self._collection(target)
        op, document = entry["op"], entry.get("o", {})
        if op == "i":
            collection.replace_one({"_id": document["_id"]}, document, upsert=True)
        elif op == "d":
            collection.delete_one(document)
        else:
            self._update(collection, entry.get("o2", {}), document)
        self.stats.applied += 1
        self.stats.by_op[op] += 1

    def _update(self, collection: Any, query: dict[str, Any], update: dict[str, Any]) -> None:
        version = update.get("$v")
        if version == 2 and "diff" in update:
            current = collection.find_one(query)
            if current is not None:  # the document is gone later in the oplog anyway: nothing to update
                collection.replace_one(query, apply_diff(current, update["diff"]))
            return
        operators = {name: value for name, value in update.items() if name != "$v"}
        if operators and all(name.startswith("$") for name in operators):
            collection.update_one(query, operators)
        else:
            collection.replace_one(query, operators)  # a whole replacement document

    def _command(self, entry: dict[str, Any]) -> None:
        command = entry.get("o", {})
        name = next(iter(command), "")
        database = str(entry.get("ns", "")).split(".", 1)[0]
        if name == "applyOps":
            self._apply_ops(entry, command)
        elif name == "commitTransaction":
            for inner in self._open.pop(self._transaction(entry), []):
                self.apply(inner)
            self.stats.by_op["commit"] += 1
        elif name == "abortTransaction":
            self._open.pop(self._transaction(entry), None)
            self.stats.skipped += 1
        elif name in SKIPPED_COMMANDS:
            self._skip()
        elif name == "dropDatabase":
            self._database_command(database, name)
        else:
            self._collection_command(database, name, command)

    def _transaction(self, entry: dict[str, Any]) -> tuple[Any, Any]:
        lsid = entry.get("lsid", {})
        return (repr(lsid.get("id") if isinstance(lsid, dict) else lsid), repr(entry.get("txnNumber")))

    def _apply_ops(self, entry: dict[str, Any], command: dict[str, Any]) -> None:
        inner = [dict(item, ts=entry.get("ts")) for item in command.get("applyOps", [])]
        if command.get("partialTxn") or command.get("prepare") or self._transaction(entry) in self._open:
            waiting = self._open.setdefault(self._transaction(entry), [])
            waiting.extend(inner)
            if command.get("partialTxn") or command.get("prepare"):
                return  # applied at its last part (unprepared) or at commitTransaction (prepared)
            inner = self._open.pop(self._transaction(entry))
        for item in inner:
            self.apply(item)

    def _database_command(self, database: str, name: str) -> None:
        if vaultui_database(database) or not self.namespaces.accepts_database(database):
            self._skip()
            return
        target_database = split_namespace(rename(f"{database}.*", self.renames))[0]
        self.client.drop_database(target_database)
        self.stats.applied += 1
        self.stats.by_op[name] += 1

    def _collection_command(self, database: str, name: str, command: dict[str, Any]) -> None:
        if name == "renameCollection":
            source, destination = str(command["renameCollection"]), str(command["to"])
            source_target, destination_target = self._target(source), self._target(destination)
            if source_target is None or destination_target is None:
                self._skip()
                return
            arguments = SON([("renameCollection", source_target), ("to", destination_target)])
            if command.get("dropTarget"):
                self._collection(destination_target).drop()
            self.client.admin.command(arguments)
        else:
            collection = str(command[name])
            target = self._target(f"{database}.{collection}")
            if target is None:
                self._skip()
                return
            target_database, target_collection = split_namespace(target)
            self._run_collection_command(target_database, target_collection, name, command)
        self.stats.applied += 1
        self.stats.by_op[name] += 1

    def _run_collection_command(self, database: str, collection: str, name: str, command: dict[str, Any]) -> None:
        db = self.client[database]
        if name == "create":
            options = {key: value for key, value in command.items() if key not in ("create", "idIndex")}
            db.command(SON([("create", collection), *options.items()]))
        elif name == "drop":
            db.drop_collection(collection)
        elif name in ("createIndexes", "commitIndexBuild"):
            # createIndexes (4.2+) carries one spec inline; commitIndexBuild (4.4+) a list. The specs pass the
            # same normalisation and allow-list as an archive's (engine.mongo.indexes).
            raw = (
                command.get("indexes")
                if name == "commitIndexBuild"
                else [{key: value for key, value in command.items() if key != "createIndexes"}]
            )
            specs, _ = index_specs(list(raw or []), f"{database}.{collection}")
            if specs:
                db.command(SON([("createIndexes", collection), ("indexes", specs)]))
        elif name == "dropIndexes" or name == "deleteIndexes":
            db.command(SON([("dropIndexes", collection), ("index", command.get("index", "*"))]))
        elif name in ("collMod", "convertToCapped"):
            db.command(SON([(name, collection), *[(key, value) for key, value in command.items() if key != name]]))
        else:
            raise OplogError(f"unsupported oplog command {name!r} on {database}.{collection}")
