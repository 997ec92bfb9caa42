"""Property-based round trips on the real bed: generated names and documents go through vaultui backup and
restore, through `tar -x` + the real mongorestore, and from the real mongodump into vaultui restore, and come
back byte for byte.

The names cover what MongoDB allows in a collection name (any Unicode but NUL, spaces, `+ % / : .`, long
names that mongodump shortens). Two limits are the bed's, not MongoDB's, and are kept out of the generators:
FerretDB 1.24 accepts database names of `[A-Za-z0-9_-]` only and refuses `$` anywhere in a collection name
(MongoDB allows `$` inside names such as `a$b`), and FerretDB loses a collection whose name holds a
backslash (the insert succeeds, the database is then not listed); the escaping of both is covered without a
server in test_names_and_index_specs.py. Documents use every BSON type FerretDB stores (it lacks Decimal128,
MinKey/MaxKey and NaN). Hypothesis prints the failing example and its seed to reproduce it
(`--hypothesis-seed=N`)."""

from __future__ import annotations

import datetime
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pymongo
from bson import Binary, Int64, ObjectId, Regex, Timestamp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.backup.run import BackupOptions, run_backup
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.restore.request import RestoreRequest
from engine.restore.run import run_restore
from engine.storage import open_storage
from tests.helpers import raw_documents

# Example counts come from the profile (tests/conftest.py): 8 replayed examples in `make test`, 80 new ones
# with VAULTUI_HYPOTHESIS=explore (`make fuzz`).
EXAMPLES = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
    # No shrinking: each example is a real backup and restore, and shrinking one took over five minutes. The
    # failing example is printed whole, with the seed that reproduces it.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)

# The bed's limits, kept out of the generators: FerretDB's SQLite backend stores documents as JSON and breaks
# on control characters (Cc) in names, keys and values; it loses databases whose names hold unassigned or
# private-use code points (Cn, Co); it cannot store a key holding `"` or `\`, nor create a collection whose
# name holds `"`; it refuses infinities and has no nested arrays.
TEXT = st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co"))
collection_names = (
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co"), blacklist_characters='$"\\'),
        min_size=1,
        max_size=90,
    )
    .map(str.strip)
    .filter(lambda name: name and not name.startswith((".", "system.")) and not name.endswith("."))
    .filter(lambda name: len(name.encode()) <= 200)
)
special_names = st.sampled_from(
    ["reports/2026:q4", "cafés", "a b+c", "50% off", "ü" * 100, "dotted.name.x", "emoji 🦊 / ok"]
)
keys = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co"), blacklist_characters='.$"\\'), min_size=1, max_size=12
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(Int64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT, max_size=40),
    st.builds(Binary, st.binary(max_size=64), st.sampled_from([0, 1, 2, 3, 5, 128])),
    st.builds(lambda raw: Binary(raw, 4), st.binary(min_size=16, max_size=16)),
    st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1)).map(
        lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    ),
    st.builds(ObjectId),
    st.builds(Timestamp, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
    st.builds(Regex, st.sampled_from(["^a", "b+$", "[x-z]"]), st.sampled_from(["", "i", "ms"])),
)
documents_in = st.deferred(lambda: st.dictionaries(keys, values, max_size=4))
array_items = st.one_of(scalars, documents_in)  # arrays hold scalars and documents, not arrays (FerretDB)
values = st.one_of(scalars, documents_in, st.lists(array_items, max_size=4))
documents = st.lists(st.dictionaries(keys, values, max_size=6), min_size=0, max_size=25)
databases = st.from_regex(r"\A[A-Za-z0-9_-]{1,20}\Z")


def fill(client: pymongo.MongoClient, database: str, collections: dict[str, list[dict]]) -> None:
    for name, docs in collections.items():
        target = client[database][name]
        target.drop()
        if docs:
            target.insert_many([dict(doc, _id=index) for index, doc in enumerate(docs)])
        else:
            client[database].create_collection(name)


def assert_same(client: pymongo.MongoClient, source: str, target: str, collections: list[str]) -> None:
    assert sorted(client[target].list_collection_names()) == sorted(collections)
    for name in collections:
        assert raw_documents(client[target][name]) == raw_documents(client[source][name]), name


def collections_of(draw_names: list[str], draw_docs: list[list[dict]]) -> dict[str, list[dict]]:
    return dict(zip(draw_names, draw_docs, strict=False))


content = st.tuples(
    st.lists(st.one_of(collection_names, special_names), min_size=1, max_size=3, unique=True),
    st.lists(documents, min_size=3, max_size=3),
)


def round_trip(
    client: pymongo.MongoClient, database: str, drawn: tuple, carry: Callable[[str, str, Path], None]
) -> None:
    """Fills a fresh source database with the drawn collections, has `carry(source, target, scratch)` move
    them into the target by one path, then compares every document's bytes and drops both."""
    source = f"rt{uuid.uuid4().hex[:6]}_{database}"[:60]
    target = f"{source}_r"[:63]
    collections = collections_of(*drawn)
    fill(client, source, collections)
    with tempfile.TemporaryDirectory() as scratch:
        carry(source, target, Path(scratch))
    assert_same(client, source, target, list(collections))
    client.drop_database(source)
    client.drop_database(target)


def vaultui_backup(uri: str, source: str, folder: Path) -> str:
    made = run_backup(open_storage(str(folder)), uri, BackupOptions(namespaces=NamespaceFilter(databases=(source,))))
    assert made.manifest.read_back
    return made.manifest.archive


@EXAMPLES
@given(database=databases, drawn=content)
def test_vaultui_backup_then_vaultui_restore(mongo_client: pymongo.MongoClient, mongo_uri: str, database, drawn):  # noqa: ANN001
    def carry(source: str, target: str, scratch: Path) -> None:
        name = vaultui_backup(mongo_uri, source, scratch)
        request = RestoreRequest(archive=name, renames=(Rename(f"{source}.*", f"{target}.*"),))
        run_restore(open_storage(str(scratch)), mongo_uri, request)

    round_trip(mongo_client, database, drawn, carry)


@EXAMPLES
@given(database=databases, drawn=content)
def test_vaultui_backup_then_tar_and_real_mongorestore(
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    database,
    drawn,  # noqa: ANN001
):
    def carry(source: str, target: str, scratch: Path) -> None:
        name = vaultui_backup(mongo_uri, source, scratch)
        out = scratch / "out"
        out.mkdir()
        subprocess.run(["tar", "--zstd", "-xf", str(scratch / name), "-C", str(out)], check=True)
        [dump] = out.iterdir()
        subprocess.run(
            [
                str(mongo_tools["mongorestore"]),
                f"--uri={mongo_uri}",
                f"--dir={dump}",
                f"--nsFrom={source}.*",
                f"--nsTo={target}.*",
                "--noIndexRestore",  # real mongorestore sends the legacy `ns` option, which FerretDB rejects
            ],
            check=True,
            capture_output=True,
        )

    round_trip(mongo_client, database, drawn, carry)


@EXAMPLES
@given(database=databases, drawn=content)
def test_real_mongodump_then_vaultui_restore(
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    database,
    drawn,  # noqa: ANN001
):
    def carry(source: str, target: str, scratch: Path) -> None:
        day = "20261001"
        subprocess.run(
            [str(mongo_tools["mongodump"]), f"--uri={mongo_uri}", f"--db={source}", f"--out={scratch / day}"],
            check=True,
            capture_output=True,
        )
        backups = scratch / "backups"
        backups.mkdir()
        with tarfile.open(backups / f"{day}.tar.gz", "w:gz") as tar:  # what the old pipeline's `tar czf` made
            tar.add(scratch / day, arcname=day)
        request = RestoreRequest(archive=f"{day}.tar.gz", renames=(Rename(f"{source}.*", f"{target}.*"),))
        run_restore(open_storage(str(backups)), mongo_uri, request)

    round_trip(mongo_client, database, drawn, carry)


def test_a_document_near_the_16_mib_limit(mongo_client: pymongo.MongoClient, mongo_uri: str, tmp_path: Path) -> None:
    source = f"big_{uuid.uuid4().hex[:8]}"
    mongo_client[source]["blobs"].insert_one({"_id": 1, "payload": Binary(b"\x5a" * (16 * 1024 * 1024 - 200))})
    storage = open_storage(str(tmp_path))
    made = run_backup(storage, mongo_uri, BackupOptions(namespaces=NamespaceFilter(databases=(source,))))
    request = RestoreRequest(archive=made.manifest.archive, renames=(Rename(f"{source}.*", f"{source}_r.*"),))
    run_restore(storage, mongo_uri, request)
    assert_same(mongo_client, source, f"{source}_r", ["blobs"])
    mongo_client.drop_database(source)
    mongo_client.drop_database(f"{source}_r")
