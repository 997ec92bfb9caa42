"""Collection file names as mongodump 100.x writes them, and legacy index specs normalised as mongorestore's
--convertLegacyIndexes does. Checked against Go's rules (net/url) by example, by property, and against the
real mongodump output shipped in the mongo-tools module (read from the Go module cache, not copied here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import Decimal128, Int64, json_util
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.archive.collection_files import (
    MAX_STEM_BYTES,
    NameScheme,
    UndecodableName,
    collection_from_stem,
    collection_stem,
    escape_collection,
    is_truncated,
    unescape_collection,
)
from engine.mongo.indexes import index_specs

TESTDATA = "mongorestore/testdata"


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("cafés", "caf%C3%A9s"),
        ("reports/2026:q4", "reports%2F2026%3Aq4"),
        ("a b+c", "a+b%2Bc"),
        ("price$", "price%24"),
        ("50%", "50%25"),
        ("keep-_.~Az09", "keep-_.~Az09"),
        ("emoji 🦊", "emoji+%F0%9F%A6%8A"),
        ("system.views", "system.views"),
    ],
)
def test_escaping_matches_go_query_escape(name: str, escaped: str) -> None:
    assert escape_collection(name) == escaped
    assert unescape_collection(escaped) == name


# Every Unicode scalar a collection name may hold: no NUL, no surrogates (not UTF-8); "$" included on purpose,
# since file names must survive it even where MongoDB refuses it in a name.
NAME_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@settings(max_examples=300, deadline=None)
@given(st.text(NAME_CHARACTERS, min_size=1, max_size=120))
@example("+ % / : . $")
def test_every_name_round_trips_through_its_file_name(name: str) -> None:
    stem = collection_stem(name)
    assert "/" not in stem and "\\" not in stem and stem not in (".", "..")
    assert len(stem.encode()) <= MAX_STEM_BYTES
    if is_truncated(stem):
        assert collection_from_stem(stem, NameScheme.ESCAPED, name) == name
    else:
        assert collection_from_stem(stem, NameScheme.ESCAPED) == name


@pytest.mark.parametrize("stem", ["bad%2", "bad%zz", "%C3"])
def test_malformed_escapes_are_errors_not_guesses(stem: str) -> None:
    with pytest.raises(UndecodableName):
        unescape_collection(stem)


def test_raw_names_of_format_1_archives_are_taken_as_written() -> None:
    assert collection_from_stem("caf%C3%A9s", NameScheme.RAW) == "caf%C3%A9s"


@pytest.fixture(scope="module")
def mongo_tools_source(bed_binaries: dict[str, Path]) -> Path:
    return bed_binaries["mongo_tools_source"]


def test_real_mongodump_file_names(mongo_tools_source: Path) -> None:
    """The files real mongodump wrote: an escaped name and a shortened long one (its real name is in the
    metadata); vaultui writes byte-for-byte the same names for the same collections."""
    [special] = (mongo_tools_source / TESTDATA / "specialcharacter/db1").glob("*.bson")
    assert collection_from_stem(special.stem, NameScheme.ESCAPED) == "cafés"
    assert collection_stem("cafés") == special.stem
    [metadata] = (mongo_tools_source / TESTDATA / "longcollectionname/db1").glob("*.metadata.json")
    stem = metadata.name.removesuffix(".metadata.json")
    real = json_util.loads(metadata.read_text())["collectionName"]
    assert is_truncated(stem) and len(real) == 247
    assert collection_from_stem(stem, NameScheme.ESCAPED, real) == real
    assert collection_stem(real) == stem


def test_legacy_index_specs_from_real_metadata_are_normalised(mongo_tools_source: Path) -> None:
    """duplicate_index_key: {foo: ""}, {foo: 1.0}, {foo: 1}, {foo: 2}; mongorestore keeps foo_ (as foo: 1)
    and foo_2, and skips the two that equal foo_ once normalised."""
    path = mongo_tools_source / TESTDATA / "duplicate_index_key/indextest/duplicate_index_key.metadata.json"
    metadata = json_util.loads(path.read_text(), json_options=json_util.CANONICAL_JSON_OPTIONS)
    specs, changes = index_specs(metadata["indexes"], "indextest.duplicate_index_key")
    assert [(spec["name"], spec["key"]) for spec in specs] == [("foo_", {"foo": 1}), ("foo_2", {"foo": 2})]
    assert all("ns" not in spec and "v" not in spec for spec in specs)
    assert len(changes) == 3 and 'key foo: "" -> 1' in changes[0]
    untouched, none = index_specs(metadata["indexes"], "x.y", keep_specs=True)
    assert [spec["key"]["foo"] for spec in untouched] == ["", 1.0, 1, 2] and none == []


def test_every_legacy_key_form_and_unknown_option() -> None:
    legacy = [
        {"v": 1, "name": "_id_", "key": {"_id": 1}},
        {
            "v": 1,
            "name": "mixed",
            "ns": "a.b",
            "safe": True,
            "dropDups": True,
            "unique": True,
            "key": {
                "a": 1.0,
                "b": True,
                "c": Decimal128("0"),
                "d": "",
                "e": Int64(0),
                "f": -0.0,
                "g": -1e-12,
                "h": "2dsphere",
                "i": -1,
                "j": None,
            },
        },
    ]
    [spec], changes = index_specs(legacy, "a.b")
    assert spec["key"] == {"a": 1.0, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": -1, "h": "2dsphere", "i": -1, "j": 1}
    assert spec["unique"] is True and "safe" not in spec and "dropDups" not in spec and "ns" not in spec
    assert sum("dropped option" in line for line in changes) == 2
    assert sum(": key " in line for line in changes) == 7
