"""Property-based mutations of real inputs: a real vaultui archive and its manifest, an old-pipeline archive,
ledger records and hold files are truncated, flipped, spliced, nested and resized, and whatever comes out:
- only the engine's own errors, never a traceback;
- nothing marked good that is not (a changed vaultui archive never verifies);
- `list`, `status`, `purge --dry-run` and the retention plan keep working, and never plan to delete a held
  archive or the newest good one.
`make test` replays a fixed set of examples; `make fuzz` draws ten times more new ones (the seed is printed
by hypothesis on failure)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pymongo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.archive.catalog import list_archives
from engine.backup.run import BackupOptions, run_backup
from engine.common.errors import VaultError
from engine.common.namespaces import NamespaceFilter
from engine.evidence.ledger import LEDGER_PREFIX, read_runs, run_keys
from engine.evidence.verify import verify_archive
from engine.sla.retention import RetentionPolicy, make_plan
from engine.sla.status import summarize
from engine.storage import open_storage
from tests.helpers import files_tar_gz, seed

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def real_backup(mongo_uri: str) -> Iterator[Path]:
    """One real archive (zstd, with its manifest and ledger record) and one old-pipeline archive."""
    database = f"fuzz_{datetime.now(UTC):%H%M%S%f}"
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
    seed(client, database, {"orders": 300, "users": 20})
    folder = Path(tempfile.mkdtemp(prefix="vaultui-fuzz-"))
    run_backup(open_storage(str(folder)), mongo_uri, BackupOptions(namespaces=NamespaceFilter(databases=(database,))))
    (folder / "20260101.tar.gz").write_bytes(
        files_tar_gz({"20260101/shop/orders.bson": b"", "20260101/shop/orders.metadata.json": b"{}"})
    )
    client.drop_database(database)
    client.close()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def mutate(data: bytes, how: str, where: float, payload: bytes) -> bytes:
    at = int(where * len(data))
    if how == "truncate":
        return data[:at]
    if how == "flip":
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    if how == "splice":
        return data[:at] + payload + data[at:]
    if how == "resize":
        return data + payload * 64
    return data


mutations = st.tuples(
    st.sampled_from(["truncate", "flip", "splice", "resize"]),
    st.floats(0, 1, allow_nan=False),
    st.binary(min_size=1, max_size=64),
)


def copy_of(folder: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="vaultui-fuzzed-"))
    shutil.copytree(folder, target, dirs_exist_ok=True)
    return target


def archive_of(folder: Path) -> Path:
    return next(path for path in folder.iterdir() if path.name.endswith(".tar.zst"))


@FUZZ
@given(mutation=mutations)
def test_a_changed_archive_never_verifies(real_backup: Path, mutation: tuple[str, float, bytes]) -> None:
    folder = copy_of(real_backup)
    try:
        path = archive_of(folder)
        original = path.read_bytes()
        changed = mutate(original, *mutation)
        path.write_bytes(changed)
        storage = open_storage(str(folder))
        entry = next(entry for entry in list_archives(storage) if entry.name == path.name)
        report = verify_archive(storage, entry)
        assert report.ok == (changed == original), report.problems
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def same_json(changed: bytes, original: bytes) -> bool:
    """Whether a mutation left the same JSON value (a space spliced between tokens changes no field)."""
    try:
        return bool(json.loads(changed) == json.loads(original))
    except (ValueError, RecursionError):
        return False


def nested(depth: int) -> bytes:
    """JSON nested `depth` levels deep (built as text: json.dumps itself would hit the recursion limit)."""
    return ('{"a":[' * depth + '"x"' + "]}" * depth).encode()


json_junk = st.one_of(
    st.just(b""),
    st.just(b"[]"),
    st.just(b"null"),
    st.just(nested(100_000)),
    st.binary(max_size=200),
    st.dictionaries(
        st.sampled_from(["archive", "reason", "held_at", "kind", "started_at", "collections", "format"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)),
        max_size=7,
    ).map(lambda value: json.dumps(value).encode()),
)


@FUZZ
@given(mutation=mutations, junk=json_junk, target=st.sampled_from(["manifest", "record", "hold"]))
def test_broken_sidecars_affect_only_themselves(
    real_backup: Path, mutation: tuple[str, float, bytes], junk: bytes, target: str
) -> None:
    folder = copy_of(real_backup)
    try:
        archive = archive_of(folder)
        hold = folder / f"{archive.name}.hold.json"
        hold.write_text(json.dumps({"archive": archive.name, "reason": "incident", "held_at": "2026-11-01"}))
        records = sorted((folder / LEDGER_PREFIX).glob("*.json"))
        path = {"manifest": folder / f"{archive.name}.manifest.json", "record": records[-1], "hold": hold}[target]
        path.write_bytes(junk if mutation[0] == "resize" else mutate(path.read_bytes(), *mutation) or junk)
        storage = open_storage(str(folder))
        now = datetime.now(UTC)
        entries = list_archives(storage)  # never raises on a broken sidecar
        read_runs(storage, run_keys(storage))
        summary = summarize(storage, now)
        plan = make_plan(storage, RetentionPolicy(max_age_days=1, keep_last=1), now)
        assert archive.name not in {decision.name for decision in plan.deletions}  # held, or the newest good
        for entry in entries:
            try:
                report = verify_archive(storage, entry)
            except VaultError:
                continue
            if (
                target == "manifest"
                and entry.name == archive.name
                and not same_json(path.read_bytes(), (real_backup / path.name).read_bytes())
            ):
                assert not report.ok or entry.status != "complete"
        assert summary.archives
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@FUZZ
@given(mutation=mutations, flips=st.integers(1, 8))
def test_a_mutated_old_pipeline_archive_is_judged_never_crashes(
    real_backup: Path, mutation: tuple[str, float, bytes], flips: int
) -> None:
    """Old-pipeline archives have no manifest to compare with: a mutation may land in padding and change
    nothing that matters, but whatever happens is a verdict or an engine error, never a crash."""
    folder = copy_of(real_backup)
    try:
        path = folder / "20260101.tar.gz"
        data = path.read_bytes()
        for step in range(flips):
            data = mutate(data, mutation[0], (mutation[1] + step / flips) % 1, mutation[2])
        path.write_bytes(data)
        storage = open_storage(str(folder))
        entry = next(entry for entry in list_archives(storage) if entry.name == path.name)
        report = verify_archive(storage, entry)
        assert report.ok or report.problems
    finally:
        shutil.rmtree(folder, ignore_errors=True)
