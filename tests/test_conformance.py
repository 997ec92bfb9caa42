"""Conformance with the real mongorestore on real mongodump output: every dump folder of the mongo-tools
module's test data (mongorestore/testdata and the restore qa-tests; read from the Go module cache, never
copied here), packed the way the old pipeline packed dumps (`tar czf YYYYMMDD.tar.gz`), is restored by
vaultui and by the real mongorestore side by side; the documents must be byte-identical, in the same
namespaces, and vaultui must build the indexes the metadata asks for, normalised as mongorestore's
--convertLegacyIndexes does.

The real mongorestore runs with --noIndexRestore: it always sends the legacy `ns` index option, which
FerretDB 1.24 rejects. A dump that the real mongorestore itself cannot restore on the bed is reported as a
skip with mongorestore's own words. An index the bed's server refuses must be one of BED_GAPS below (named
feature, checked spec); any other refusal fails the test."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import bson
import pymongo
import pytest
from bson import json_util

from engine.archive.collection_files import NameScheme, UndecodableName, collection_from_stem, unescape_collection
from engine.mongo.indexes import index_specs
from tests.helpers import raw_documents, run_vaultui

ROOTS = ("mongorestore/testdata", "test/qa-tests/jstests/restore/testdata")
SYSTEM_DATABASES = {"admin", "local", "config"}
DAY = "20261001"

# Indexes the bed refuses, by (dump folder, index name), with why. vaultui sends each (normalised), reports
# the refusal with the server's message and builds the rest; the test checks the refusal was reported.
EXPECTED_REFUSALS: dict[tuple[str, str], str] = {
    ("mongorestore/testdata/coll_with_geohaystack_index", "f_1"): "geoHaystack index (FerretDB has none)",
    ("mongorestore/testdata/coll_with_ttl_index", "f_1"): "TTL index: FerretDB lacks expireAfterSeconds",
    ("mongorestore/testdata/duplicate_index_key", "foo_2"): "key value 2: FerretDB takes only 1 and -1",
    ("mongorestore/testdata/duplicate_index_key_with_oplog", "a_1"): (
        "unique index over duplicate values: the dump's data breaks it (MongoDB refuses it too)"
    ),
    ("mongorestore/testdata/indexmetadata", "a_1_b_true"): "Decimal128 key values: FerretDB has no Decimal128",
    (
        "test/qa-tests/jstests/restore/testdata/dump_extended_json_options",
        "position_2d",
    ): "2d index (FerretDB has none)",
    ("test/qa-tests/jstests/restore/testdata/dump_ordered_partial_index", "apfe"): (
        "partial index: FerretDB lacks partialFilterExpression"
    ),
    ("test/qa-tests/jstests/restore/testdata/dump_with_invalid", "a_1"): (
        "a spec with no key: the dump is invalid on purpose (MongoDB refuses it too)"
    ),
}


def dump_folders(source: Path) -> list[str]:
    """Every folder under the test data roots holding <db>/<collection>.bson or .metadata.json files."""
    found = []
    for root in ROOTS:
        for folder in sorted((source / root).rglob("*")):
            if (
                folder.is_dir()
                and folder != source / root
                and any(
                    child.is_dir() and (any(child.glob("*.bson")) or any(child.glob("*.metadata.json")))
                    for child in folder.iterdir()
                )
            ):
                found.append(str(folder.relative_to(source)))
    return found


def _source() -> Path:
    from tests.bed import servers

    return servers.binary_paths()["mongo_tools_source"]


FOLDERS = dump_folders(_source())


def test_the_fixture_set_is_the_one_the_note_counts() -> None:
    assert len(FOLDERS) >= 25, FOLDERS


def metadata_of(folder: Path) -> dict[str, dict]:
    """namespace -> parsed metadata.json, named the way mongorestore names them."""
    out = {}
    for database in folder.iterdir():
        if not database.is_dir():
            continue
        for path in database.glob("*.metadata.json"):
            try:
                metadata = json_util.loads(path.read_text(), json_options=json_util.CANONICAL_JSON_OPTIONS)
                name = collection_from_stem(
                    path.name.removesuffix(".metadata.json"), NameScheme.ESCAPED, metadata.get("collectionName")
                )
            except (ValueError, UndecodableName):
                continue
            out[f"{database.name}.{name}"] = metadata
    return out


def without_ids(folder: Path) -> set[str]:
    """Namespaces whose dumped documents lack an _id (oplog-shaped fixtures)."""
    names = set()
    for bson_file in folder.glob("*/*.bson"):
        with bson_file.open("rb") as data:
            if any("_id" not in document for document in bson.decode_file_iter(data)):
                names.add(f"{bson_file.parent.name}.{unescape_collection(bson_file.stem)}")
    return names


def stripped_of_ids(raw: list[bytes]) -> list[bytes]:
    documents = []
    for item in raw:
        document = bson.decode(item, codec_options=bson.CodecOptions(document_class=bson.SON))
        document.pop("_id", None)
        documents.append(bson.encode(document))
    return sorted(documents)


@pytest.mark.parametrize("relative", FOLDERS)
def test_vaultui_restores_what_real_mongorestore_restores(
    relative: str,
    tmp_path: Path,
    mongo_uri: str,
    mongo_client: pymongo.MongoClient,
    mongo_tools: dict[str, Path],
    bed_binaries: dict[str, Path],
) -> None:
    fixture = bed_binaries["mongo_tools_source"] / relative
    work = tmp_path / "work"
    shutil.copytree(fixture, work / DAY, symlinks=True)
    backups = tmp_path / "backups"
    backups.mkdir()
    subprocess.run(["tar", "czf", str(backups / f"{DAY}.tar.gz"), "-C", str(work), DAY], check=True)
    databases = sorted(
        child.name for child in fixture.iterdir() if child.is_dir() and child.name not in SYSTEM_DATABASES
    )
    if not databases:
        pytest.skip(f"{relative} holds only system databases ({', '.join(sorted(p.name for p in fixture.iterdir()))})")
    run = uuid.uuid4().hex[:6]
    # FerretDB database names are [A-Za-z0-9_-]{1,63}: the targets keep that shape.
    mongorestore_target = {database: f"m{run}_{database}"[:63] for database in databases}
    vaultui_target = {database: f"v{run}_{database}"[:63] for database in databases}

    real = subprocess.run(
        [
            str(mongo_tools["mongorestore"]),
            f"--uri={mongo_uri}",
            f"--dir={work / DAY}",
            "--noIndexRestore",
            *(f"--nsInclude={database}.*" for database in databases),
            *(
                argument
                for database in databases
                for argument in (f"--nsFrom={database}.*", f"--nsTo={mongorestore_target[database]}.*")
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    restored_by_real = [line for line in real.stderr.splitlines() if "document(s) restored successfully" in line]
    if real.returncode != 0:
        lines = [line.split("\t")[-1] for line in real.stderr.splitlines() if line.strip()]
        why = next((line for line in lines if line.startswith("Failed:")), lines[-1] if lines else "no output")
        pytest.skip(f"the real mongorestore does not restore {relative} on the bed: {why[:300]}")

    arguments = ["--headless", "restore", "--archive", f"{DAY}.tar.gz"]
    for database in databases:
        arguments += ["--db", database, "--ns-from", f"{database}.*", "--ns-to", f"{vaultui_target[database]}.*"]
    done = run_vaultui(*arguments, env={"VAULTUI_STORAGE": str(backups), "VAULTUI_TARGET_URI": mongo_uri})
    assert done.returncode in (0, 10), f"{relative}: {done.stderr}\n(real mongorestore: {restored_by_real})"
    assert "Traceback" not in done.stderr

    for database in databases:
        real_names = sorted(mongo_client[mongorestore_target[database]].list_collection_names())
        ours = sorted(mongo_client[vaultui_target[database]].list_collection_names())
        assert ours == real_names, relative
        for name in real_names:
            ours_raw = raw_documents(mongo_client[vaultui_target[database]][name])
            real_raw = raw_documents(mongo_client[mongorestore_target[database]][name])
            if f"{database}.{name}" in without_ids(fixture):
                # Documents dumped without _id get one from the server on insert, so the ids differ by nature.
                ours_raw, real_raw = stripped_of_ids(ours_raw), stripped_of_ids(real_raw)
            assert ours_raw == real_raw, f"{relative}: {database}.{name}"

    # Indexes: every normalised spec is built, or its refusal was reported and is a known gap of the bed.
    for namespace, metadata in metadata_of(fixture).items():
        database, collection = namespace.split(".", 1)
        if database not in vaultui_target or metadata.get("type", "collection") != "collection":
            continue
        target = f"{vaultui_target[database]}.{collection}"
        specs, _ = index_specs(metadata.get("indexes", []), target)
        built = mongo_client[vaultui_target[database]][collection].index_information()
        for spec in specs:
            name = spec["name"]
            if name in built:
                assert list(built[name]["key"]) == list(spec["key"].items()), f"{relative}: {target} {name}"
                continue
            assert f"the target refused index {name} of {target}" in done.stderr, f"{relative}: {target} {name}"
            assert (relative, name) in EXPECTED_REFUSALS, (
                f"{relative}: the target refused {target} index {name} ({spec}), which no known gap explains"
            )
    for database in databases:
        mongo_client.drop_database(mongorestore_target[database])
        mongo_client.drop_database(vaultui_target[database])


def test_a_shortened_name_maps_back_to_its_collection(tmp_path: Path, bed_binaries: dict[str, Path]) -> None:
    """longcollectionname: FerretDB refuses 247-character names, so it is not restored above; what vaultui reads
    from it is checked here: the shortened file maps to the real name in its metadata, and the stray file at
    the top of the dump is listed as not restored."""
    from engine.archive.catalog import find_archive
    from engine.evidence.verify import verify_archive
    from engine.storage import open_storage

    fixture = bed_binaries["mongo_tools_source"] / "mongorestore/testdata/longcollectionname"
    shutil.copytree(fixture, tmp_path / "work" / DAY)
    (tmp_path / "backups").mkdir()
    subprocess.run(
        ["tar", "czf", str(tmp_path / "backups" / f"{DAY}.tar.gz"), "-C", str(tmp_path / "work"), DAY], check=True
    )
    storage = open_storage(str(tmp_path / "backups"))
    report = verify_archive(storage, find_archive(storage, f"{DAY}.tar.gz"))
    assert report.ok, report.problems
    [namespace] = report.collections
    assert (
        namespace
        == "db1.aVery" + "Very" * 43 + "LongCollectionNameConsistingOfExactlyTwoHundredAndFortySevenCharacters"
    )
    [stray] = report.not_restored
    assert "someMadeUpInvalidHashString.bson: not inside a <database>/ folder" in stray
