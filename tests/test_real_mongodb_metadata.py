"""The loader's reading of metadata.json, checked against files a real MongoDB server's mongodump wrote.

FerretDB stands in for MongoDB elsewhere, but it lacks capped collections, hashed and partial indexes and
time-series collections; so these cases use real mongodump output instead: the test data shipped in the
mongo-tools module the bed builds from (read from the Go module cache, not copied into this repository)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import Int64, json_util

from engine.mongo.indexes import index_specs as specs_and_changes
from engine.restore.load import create_options


@pytest.fixture(scope="module")
def mongo_tools_source(bed_binaries: dict[str, Path]) -> Path:
    source = bed_binaries["mongo_tools_source"]
    assert (source / "mongorestore").is_dir(), f"mongo-tools source missing at {source}: run tests/bed/build.sh"
    return source


def index_specs(metadata: dict) -> list[dict]:
    return specs_and_changes(metadata.get("indexes", []), "test.ns")[0]


def load(source: Path, relative: str) -> dict:
    return json_util.loads((source / relative).read_text(), json_options=json_util.CANONICAL_JSON_OPTIONS)


def test_hashed_indexes_keep_their_kind_and_lose_server_fields(mongo_tools_source: Path) -> None:
    metadata = load(mongo_tools_source, "mongorestore/testdata/hashedIndexes.metadata.json")
    specs = index_specs(metadata)
    assert [spec["name"] for spec in specs] == ["a.a_1", "a.b_hashed", "b_hashed"]
    assert specs[1]["key"] == {"a.b": "hashed"}
    assert all("ns" not in spec and "v" not in spec for spec in specs)


def test_partial_index_filter_survives_in_order(mongo_tools_source: Path) -> None:
    metadata = load(
        mongo_tools_source, "test/qa-tests/jstests/restore/testdata/dump_ordered_partial_index/test/foo.metadata.json"
    )
    [spec] = index_specs(metadata)
    assert spec["name"] == "apfe" and spec["key"] == {"a": 1.0}
    assert list(spec["partialFilterExpression"]) == [f"a{number}" for number in range(10)]


def test_capped_collection_options_are_recreated(mongo_tools_source: Path) -> None:
    metadata = load(
        mongo_tools_source,
        "test/qa-tests/jstests/restore/testdata/dump_extended_json_options/test/changelog.metadata.json",
    )
    assert create_options(metadata) == {"size": Int64(10_000_000), "capped": True}
    [spec] = index_specs(metadata)
    assert spec["key"] == {"pos": "2d"} and spec["bits"] == Int64(32)


def test_time_series_options_pass_through(mongo_tools_source: Path) -> None:
    metadata = load(
        mongo_tools_source, "mongorestore/testdata/timeseries_tests/ts_dump/timeseries_test/foo_ts.metadata.json"
    )
    assert create_options(metadata)["timeseries"]["timeField"] == "ts"
    assert [spec["name"] for spec in index_specs(metadata)] == ["meta.device_1", "ts_1_meta.device_1"]


def test_only_allow_listed_create_options_reach_the_server() -> None:
    """An archive's metadata is input: options MongoDB does not define (or that describe rather than configure
    a collection) never go into the create command."""
    metadata = {"options": {"capped": True, "size": 4096, "uuid": "x", "idIndex": {}, "$where": "1", "evil": 1}}
    assert create_options(metadata) == {"capped": True, "size": 4096}
