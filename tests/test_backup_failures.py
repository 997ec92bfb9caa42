"""Backups that cannot succeed: each says what failed in one line, exits non-zero, records the failure when
the storage allows it, and never leaves anything that is listed as an archive."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pymongo
import pytest

from engine.archive.catalog import list_archives
from engine.backup.run import BackupOptions, run_backup
from engine.common.errors import StorageError, VerificationError
from engine.common.namespaces import NamespaceFilter
from engine.evidence.ledger import LEDGER_PREFIX, list_runs
from engine.storage import AtomicWriter, Storage, open_storage
from tests.bed.servers import free_port
from tests.helpers import run_vaultui, seed
from vaultui.exit_codes import ExitCode


class FailingWriter(AtomicWriter):
    """Injected fault: forwards to the real writer, then fails like a full disk after `budget` bytes."""

    def __init__(self, real: AtomicWriter, budget: int) -> None:
        self.real, self.budget = real, budget

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.budget -= len(data)
        if self.budget < 0:
            raise StorageError("injected fault: the storage failed mid-write")
        return self.real.write(data)

    def commit(self) -> None:
        self.real.commit()

    def abort(self) -> None:
        self.real.abort()


class FailingStorage:
    """A real storage whose archive writes break after some bytes; everything else passes through."""

    def __init__(self, real: Storage, budget: int) -> None:
        self.real, self.budget = real, budget

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def open_write(self, key: str) -> AtomicWriter:
        writer = self.real.open_write(key)
        return FailingWriter(writer, self.budget) if key.endswith((".tar.gz", ".tar.zst")) else writer


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("vaultui:")]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def seeded(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    seed(mongo_client, database_name, {"orders": 3000})
    return database_name


def test_unreachable_mongodb_is_named_and_recorded_without_the_password(tmp_path: Path) -> None:
    uri = f"mongodb://backup:s3cret-pass@127.0.0.1:{free_port()}/"
    done = run_vaultui(
        "--headless",
        "backup",
        "--connect-timeout",
        "1",
        env={"VAULTUI_MONGO_URI": uri, "VAULTUI_STORAGE": str(tmp_path)},
    )
    assert done.returncode == ExitCode.SOURCE_UNREACHABLE
    message = one_line(done.stderr)
    assert "cannot reach MongoDB at 127.0.0.1" in message and "check the URI" in message
    assert "s3cret-pass" not in done.stderr + done.stdout
    storage = open_storage(str(tmp_path))
    assert list_archives(storage) == []
    [record] = list_runs(storage)
    assert record.result == "failure" and "cannot reach MongoDB" in (record.error or "")
    assert "s3cret-pass" not in json.dumps(record.__dict__)


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_storage_failing_mid_write_leaves_no_archive_and_records_the_failure(
    kind: str, seeded: str, mongo_uri: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "folder":
        real = open_storage(str(tmp_path))
    else:
        request.getfixturevalue("s3_env")
        real = open_storage(f"s3://{request.getfixturevalue('s3_bucket')}/db")
    with pytest.raises(StorageError, match="injected fault"):
        run_backup(
            FailingStorage(real, budget=20_000),
            mongo_uri,  # type: ignore[arg-type]
            BackupOptions(codec="gzip", namespaces=NamespaceFilter(databases=(seeded,))),
        )
    assert list_archives(real) == []
    [left] = [info.key for info in real.list("")]  # only the run's ledger record
    assert left.startswith(LEDGER_PREFIX)
    [record] = list_runs(real)
    assert (record.result, record.error) == ("failure", "injected fault: the storage failed mid-write")
    if kind == "folder":
        assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")], "temporary file left"
    else:
        client = real.client  # type: ignore[attr-defined]
        assert client.list_multipart_uploads(Bucket=real.bucket).get("Uploads", []) == []  # type: ignore[attr-defined]


def test_large_s3_archive_goes_up_in_parts_and_verifies(
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    s3_bucket: str,
    s3_env: dict,
    monkeypatch: pytest.MonkeyPatch,
    database_name: str,
) -> None:
    import os

    import engine.storage.s3

    monkeypatch.setattr(engine.storage.s3, "PART_SIZE", 5 * 1024 * 1024)  # S3's minimum part size
    # Incompressible payload, so that the archive spans several parts.
    mongo_client[database_name]["blobs"].insert_many([{"_id": i, "data": os.urandom(200_000)} for i in range(80)])
    storage = open_storage(f"s3://{s3_bucket}/big")
    result = run_backup(storage, mongo_uri, BackupOptions(namespaces=NamespaceFilter(databases=(database_name,))))
    assert result.manifest.archive_bytes > 12 * 1024 * 1024
    from engine.evidence.verify import verify_archive

    report = verify_archive(storage, list_archives(storage)[0])
    assert report.ok, report.problems
    assert report.documents == 80


def test_wrong_s3_credentials(seeded: str, mongo_uri: str, s3_bucket: str, s3_env: dict) -> None:
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": f"s3://{s3_bucket}/x", "AWS_SECRET_ACCESS_KEY": "wrong"}
    done = run_vaultui("--headless", "backup", "--db", seeded, env=env)
    assert done.returncode == ExitCode.STORAGE
    message = one_line(done.stderr)
    assert "S3 rejected the credentials (SignatureDoesNotMatch)" in message and "AWS_SECRET_ACCESS_KEY" in message
    assert "wrong" not in message
    assert list_archives(open_storage(f"s3://{s3_bucket}/x")) == []


def test_missing_bucket(seeded: str, mongo_uri: str, s3_env: dict) -> None:
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": "s3://no-such-bucket-here/x"}
    done = run_vaultui("--headless", "backup", "--db", seeded, env=env)
    assert done.returncode == ExitCode.STORAGE
    assert "S3 bucket 'no-such-bucket-here' does not exist: create it or fix the storage URL" in one_line(done.stderr)


def test_missing_storage_folder_is_not_created_behind_a_failed_mount(tmp_path: Path, mongo_uri: str) -> None:
    done = run_vaultui(
        "--headless", "backup", env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(tmp_path / "not-mounted")}
    )
    assert done.returncode == ExitCode.STORAGE
    assert "does not exist: create it or mount the backup volume there" in one_line(done.stderr)
    assert not (tmp_path / "not-mounted").exists()


@pytest.mark.parametrize(
    ("arguments", "env", "expected"),
    [
        (["--storage", "ftp://host/backups"], {}, "unsupported storage URL 'ftp://host/backups'"),
        (["--storage", "s3://"], {}, "malformed storage URL 's3://'"),
        (["--storage", "s3://Bad_Bucket/x"], {}, "'Bad_Bucket' is not a bucket name"),
        (["--storage", "s3://bucket/x?endpoint=localhost:9000"], {}, "must start with http:// or https://"),
        (["--codec", "lz4"], {}, "unknown codec 'lz4': choose one of gzip, zstd"),
        (["--dumper", "rsync"], {}, "unknown dumper 'rsync'"),
        (["--db", "no_such_database"], {}, "database 'no_such_database' not found on the server"),
        ([], {"VAULTUI_MONGO_URI": ""}, "no MongoDB URI for the source: set VAULTUI_MONGO_URI"),
        ([], {"VAULTUI_MONGO_URI": "mongodb://"}, "malformed MongoDB URI for the source"),
        ([], {"VAULTUI_PARALLEL": "many"}, "VAULTUI_PARALLEL='many' is not valid"),
    ],
)
def test_bad_input_gives_one_clear_line(
    arguments: list[str], env: dict[str, str], expected: str, mongo_uri: str, tmp_path: Path
) -> None:
    environment = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(tmp_path), **env}
    done = run_vaultui("--headless", "backup", *arguments, env=environment)
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert expected in one_line(done.stderr)
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.tar.*"))


class CorruptingWriter(AtomicWriter):
    """Injected fault: the storage silently flips one byte of what it stores (a bad disk, a broken proxy):
    the write itself succeeds, so only reading the archive back can tell."""

    def __init__(self, real: AtomicWriter, at: int) -> None:
        self.real, self.at, self.seen = real, at, 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = bytearray(data)
        if self.seen <= self.at < self.seen + len(chunk):
            chunk[self.at - self.seen] ^= 0xFF
        self.seen += len(chunk)
        return self.real.write(bytes(chunk))

    def commit(self) -> None:
        self.real.commit()

    def abort(self) -> None:
        self.real.abort()


class CorruptingStorage(FailingStorage):
    def open_write(self, key: str) -> AtomicWriter:
        writer = self.real.open_write(key)
        return CorruptingWriter(writer, self.budget) if key.endswith((".tar.gz", ".tar.zst")) else writer


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_a_backup_that_does_not_read_back_is_a_failure_and_leaves_nothing(
    seeded: str, mongo_uri: str, tmp_path: Path, codec: str
) -> None:
    storage = open_storage(str(tmp_path))
    options = BackupOptions(codec=codec, namespaces=NamespaceFilter(databases=(seeded,)))
    with pytest.raises(VerificationError, match="did not read back"):
        run_backup(CorruptingStorage(storage, 20_000), mongo_uri, options)  # type: ignore[arg-type]
    assert list_archives(storage) == []
    assert not [key for key in (path.name for path in tmp_path.iterdir()) if key.endswith(".manifest.json")]
    [run] = list_runs(storage)
    assert run.kind == "backup" and run.result == "failure" and "did not read back" in (run.error or "")


def test_without_read_back_the_manifest_says_so(seeded: str, mongo_uri: str, tmp_path: Path) -> None:
    done = run_vaultui(
        "--headless",
        "backup",
        "--db",
        seeded,
        "--no-read-back",
        env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    [manifest] = tmp_path.glob("*.manifest.json")
    assert json.loads(manifest.read_text())["read_back"] is False


def test_sigterm_mid_backup_rolls_back_and_records_the_interruption(
    mongo_client: pymongo.MongoClient, database_name: str, mongo_uri: str, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import time

    from tests.helpers import VAULTUI

    seed(mongo_client, database_name, {"orders": 20_000})
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VAULTUI_")}
    environment.update(VAULTUI_MONGO_URI=mongo_uri, VAULTUI_STORAGE=str(tmp_path))
    process = subprocess.Popen(
        [VAULTUI, "--headless", "backup", "--db", database_name],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait for the state "an archive is being written", then stop the run as Kubernetes stops a pod.
    deadline = time.monotonic() + 120
    while not any(path.name.endswith(".partial") for path in tmp_path.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the backup never started writing"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == ExitCode.TERMINATED, stderr
    assert "terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    assert [path.name for path in tmp_path.iterdir() if path.is_file()] == []  # no archive, no .partial
    [run] = list_runs(open_storage(str(tmp_path)))
    assert run.result == "failure" and run.error == "interrupted"


@pytest.mark.parametrize("backend", ["folder", "s3"])
def test_writes_left_by_killed_runs_are_shown_then_swept_by_the_next_backup(
    backend: str, seeded: str, mongo_uri: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A killed run leaves a hidden .partial (folder) or an incomplete multipart upload (S3): status shows it,
    and the next backup removes what is older than any run can be."""
    from datetime import UTC, datetime, timedelta

    from engine.sla.status import summarize

    if backend == "folder":
        storage: Storage = open_storage(str(tmp_path))
        stale = tmp_path / ".20261101T000000Z.tar.zst.0badc0de.partial"
        stale.write_bytes(b"x" * 100)
        old = (datetime.now(UTC) - timedelta(hours=13)).timestamp()
        os.utime(stale, (old, old))
    else:
        request.getfixturevalue("s3_env")
        client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("s3_bucket")
        storage = open_storage(f"s3://{bucket}/nightly")
        client.create_multipart_upload(Bucket=bucket, Key="nightly/20261101T000000Z.tar.zst")
    [left] = summarize(storage, datetime.now(UTC)).unfinished
    assert left.key.endswith("20261101T000000Z.tar.zst") or left.key.endswith(".partial")
    later = datetime.now(UTC) + timedelta(hours=13)  # the upload is fresh on a real clock: look from later
    run_backup(storage, mongo_uri, BackupOptions(namespaces=NamespaceFilter(databases=(seeded,))), clock=lambda: later)
    assert summarize(storage, datetime.now(UTC)).unfinished == []
    [run] = [run for run in list_runs(storage) if run.kind == "backup"]
    assert len(run.details["discarded_unfinished"]) == 1
