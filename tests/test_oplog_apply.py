"""The oplog applier against real MongoDB oplog entries: the transaction cases of the mongo-tools module's
mongorestore test data (written by MongoDB 4.x and 6.1: plain, applyOps, unprepared and prepared
transactions split over several entries, committed, aborted and left incomplete, each with the documents the
collection must hold afterwards), and its oplog files of commands (create, index builds, collMod, drops).
FerretDB (the bed) applies what they describe; entries are replayed twice to show replay is idempotent.
The `$v: 2` update diffs of MongoDB 5.0+ appear in no test file there: they are checked without a server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pymongo
import pytest
from bson import json_util

from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.pitr.apply import OplogApplier, apply_diff
from tests.bed import servers

TESTDATA = servers.binary_paths()["mongo_tools_source"] / "mongorestore" / "testdata"
OPTIONS = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, tz_aware=False)


def cases(name: str) -> list[tuple[str, dict]]:
    return list(json_util.loads((TESTDATA / name).read_text(), json_options=OPTIONS).items())


TRANSACTIONS = [
    pytest.param(case, id=f"{file}: {title}")
    for file in ("transactions.json", "transactions-6.1.json")
    for title, case in cases(file)
]


@pytest.mark.parametrize("case", TRANSACTIONS)
def test_transactions_replay_to_the_documented_postimage(case: dict, mongo_client: pymongo.MongoClient) -> None:
    database = f"txn_{uuid.uuid4().hex[:8]}"
    applier = OplogApplier(mongo_client, renames=(Rename("txntest.*", f"{database}.*"),))
    for _ in range(2):  # a replay cut short is run again from its start: the result must not change
        for entry in case["ops"]:
            applier.apply(entry)
    collection = case["ns"].split(".", 1)[1]
    found = sorted(mongo_client[database][collection].find({}), key=lambda document: document["_id"])
    assert found == sorted(case["postimage"], key=lambda document: document["_id"])
    mongo_client.drop_database(database)


def test_filters_and_renames_reach_inside_transactions(mongo_client: pymongo.MongoClient) -> None:
    [(_, case)] = [item for item in cases("transactions.json") if item[0] == "applyops not transaction"] or [("", None)]
    if case is None:
        pytest.skip("the mongo-tools module source is not in the bed")
    database = f"txn_{uuid.uuid4().hex[:8]}"
    left_out = OplogApplier(
        mongo_client, NamespaceFilter(exclude=("txntest.b",)), renames=(Rename("txntest.*", f"{database}.*"),)
    )
    for entry in case["ops"]:
        left_out.apply(entry)
    assert mongo_client[database]["b"].count_documents({}) == 0 and left_out.stats.skipped == 2


def oplog_lines(path: Path) -> list[dict]:
    return [json_util.loads(line, json_options=OPTIONS) for line in path.read_text().splitlines() if line.strip()]


def test_command_entries_from_real_oplogs(mongo_client: pymongo.MongoClient) -> None:
    """mongorestore/testdata/oplogs/oplog.json, a real MongoDB 4.4 oplog of commands: create, index builds
    (start/commit and createIndexes), dropIndexes, drop, dropDatabase, again and again, replayed twice each
    into a renamed database. Its collMod entries and its TTL index are left out: FerretDB does not implement
    them (NotImplemented), which says nothing of the applier (it passes collMod on as is, and TTL specs through
    the index allow-list)."""
    database = f"cmd_{uuid.uuid4().hex[:8]}"
    entries = [
        entry
        for entry in oplog_lines(TESTDATA / "oplogs" / "oplog.json")
        if "collMod" not in entry["o"] and "expireAfterSeconds" not in str(entry["o"])
    ]
    applier = OplogApplier(mongo_client, renames=(Rename("test2.*", f"{database}.*"),))
    for entry in entries:
        applier.apply(entry)
        applier.apply(entry)  # idempotent: an existing collection or index, a missing one to drop, are done
    assert mongo_client[database].list_collection_names() == ["foo"]  # bar was made and dropped
    assert {index["name"] for index in mongo_client[database]["foo"].list_indexes()} == {"_id_", "f_1"}
    assert applier.stats.by_op["dropDatabase"] == 2 and applier.stats.by_op["commitIndexBuild"] == 6
    mongo_client.drop_database(database)


def test_update_diffs_of_mongodb_5() -> None:
    """`$v: 2` diffs: deletes, sets, inserts, sub-documents and arrays (resize, set, descend)."""
    before = {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}, "list": [1, 2, 3], "nested": [{"x": 1}, {"x": 2}]}
    diff = {
        "d": {"a": False},
        "u": {"z": 9},
        "i": {"new": "yes"},
        "sb": {"u": {"c": 10}, "d": {"d": False}},
        "slist": {"a": True, "l": 2, "u1": 20},
        "snested": {"a": True, "s1": {"u": {"x": 22}}, "u2": {"x": 3}},
    }
    after = apply_diff(before, diff)
    assert after == {
        "_id": 1,
        "b": {"c": 10},
        "list": [1, 20],
        "nested": [{"x": 1}, {"x": 22}, {"x": 3}],
        "z": 9,
        "new": "yes",
    }
    assert apply_diff(after, diff) == after  # applying twice changes nothing
    assert before["a"] == 1  # the input is not modified


def test_update_forms_on_the_server(mongo_client: pymongo.MongoClient) -> None:
    """The three update forms an oplog holds: `$v: 1` modifiers, a whole replacement, a `$v: 2` diff."""
    database = f"upd_{uuid.uuid4().hex[:8]}"
    applier = OplogApplier(mongo_client)
    entries = [
        {"op": "i", "ns": f"{database}.c", "o": {"_id": 1, "n": 1, "tags": ["a"]}},
        {"op": "u", "ns": f"{database}.c", "o2": {"_id": 1}, "o": {"$v": 1, "$set": {"n": 2}}},
        {"op": "u", "ns": f"{database}.c", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"stags": {"a": True, "u1": "b"}}}},
        {"op": "i", "ns": f"{database}.c", "o": {"_id": 2, "n": 1}},
        {"op": "u", "ns": f"{database}.c", "o2": {"_id": 2}, "o": {"_id": 2, "replaced": True}},
        {"op": "d", "ns": f"{database}.c", "o": {"_id": 3}},  # a delete of what is not there: nothing
        {"op": "n", "ns": "", "o": {"msg": "periodic noop"}},
    ]
    for entry in entries * 2:
        applier.apply(entry)
    assert list(mongo_client[database]["c"].find({}).sort("_id")) == [
        {"_id": 1, "n": 2, "tags": ["a", "b"]},
        {"_id": 2, "replaced": True},
    ]
    mongo_client.drop_database(database)
    assert json.dumps(dict(applier.stats.by_op), sort_keys=True) == '{"d": 2, "i": 4, "u": 6}'


def model_of(entries: list[dict]) -> dict[str, dict]:
    """What a list of insert/delete entries (also inside applyOps) leaves, by namespace and _id: the
    documents these oplog files describe. System databases are left out, as a restore leaves them out."""
    state: dict[str, dict] = {}

    def take(entry: dict) -> None:
        namespace = entry.get("ns", "")
        if entry["op"] == "c" and "applyOps" in entry["o"]:
            for inner in entry["o"]["applyOps"]:
                take(inner)
        elif namespace.split(".", 1)[0] in ("admin", "config", "local"):
            return
        elif entry["op"] == "i":
            state.setdefault(namespace, {})[entry["o"]["_id"]] = entry["o"]
        elif entry["op"] == "d":
            state.setdefault(namespace, {}).pop(entry["o"]["_id"], None)

    for entry in entries:
        take(entry)
    return state


ORACLE_FILES = [
    "oplogdump/oplog.bson",  # inserts, and an applyOps of inserts on admin.$cmd (MongoDB 3.6)
    "oplog_partial_skips/oplog.bson",  # config.* entries a restore skips, creates, inserts (4.2)
    "duplicate_index_key_with_oplog/oplog.bson",  # a delete and an insert (4.4)
    "create_indexes/oplog.bson",  # create, createIndexes, no-ops (4.4)
    "commit_indexes_build/oplog.bson",  # two-phase index builds: startIndexBuild/commitIndexBuild (4.4)
    "oplog_ignore_index/oplog.bson",  # an index build started and aborted (4.4)
]


@pytest.mark.parametrize("name", ORACLE_FILES)
def test_real_oplog_files_replay_to_what_they_describe(name: str, mongo_client: pymongo.MongoClient) -> None:
    """The oplog.bson files of mongorestore's test data, written by real MongoDB servers, each replayed twice
    into databases of their own: the documents equal what their entries describe, the indexes their
    builds committed exist and the aborted one does not. Index builds with a partialFilterExpression are left
    out: FerretDB does not implement that option (NotImplemented), which says nothing of the applier."""
    import bson

    entries = [
        entry
        for entry in bson.decode_all((TESTDATA / name).read_bytes())
        if "partialFilterExpression" not in str(entry.get("o"))
    ]
    prefix = f"o{uuid.uuid4().hex[:6]}_"
    databases = {entry["ns"].split(".", 1)[0] for entry in entries if entry.get("ns")} - {"admin", "config", "local"}
    renames = tuple(Rename(f"{database}.*", f"{prefix}{database}.*") for database in sorted(databases))
    applier = OplogApplier(mongo_client, renames=renames)
    for entry in entries * 2:
        applier.apply(entry)
    for namespace, documents in model_of(entries).items():
        database, collection = namespace.split(".", 1)
        got = {document["_id"]: document for document in mongo_client[prefix + database][collection].find()}
        assert got == documents, namespace
    indexes = {
        (database, index["name"])
        for database in databases
        for collection in mongo_client[prefix + database].list_collection_names()
        for index in mongo_client[prefix + database][collection].list_indexes()
    }
    if name.startswith(("create_indexes", "commit_indexes_build")):
        assert any(index == "a_1" for _, index in indexes), indexes
    if name.startswith("oplog_ignore_index"):
        assert not any(index == "a_1" for _, index in indexes), indexes
    for database in databases:
        mongo_client.drop_database(prefix + database)
