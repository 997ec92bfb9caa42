"""Encryption at rest with age: vaultui round trips on a folder and on S3, the by-hand path (Debian's `age`,
`tar --zstd`, the real mongorestore), verify without the key, and a wrong, missing or damaged key or archive
changing nothing."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pyrage
import pytest
from pyrage import x25519

from engine.archive.catalog import list_archives
from engine.archive.encryption import AgeReader, AgeWriter
from engine.common.errors import VerificationError
from engine.evidence.ledger import list_runs
from engine.pitr.store import list_chunks
from engine.storage import open_storage
from engine.storage.errors import TransientFault
from tests.bed import servers
from tests.helpers import raw_documents, run_vaultui, seed, storage_url
from vaultui.exit_codes import ExitCode

COUNTS = {"orders": 700, "users": 30}


@pytest.fixture
def source(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    seed(mongo_client, database_name, COUNTS)
    return database_name


def make_identity(folder: Path, name: str) -> tuple[str, Path]:
    """(public key, identity file) as age-keygen writes them."""
    identity = x25519.Identity.generate()
    path = folder / f"{name}.txt"
    path.write_text(f"# created: by the test\n# public key: {identity.to_public()}\n{identity}\n")
    path.chmod(0o600)
    return str(identity.to_public()), path


def backup(mongo_uri: str, url: str, database: str, *recipients: str) -> str:
    flags = [argument for recipient in recipients for argument in ("--age-recipient", recipient)]
    made = run_vaultui(
        "--headless", "backup", "--db", database, *flags, env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": url}
    )
    assert made.returncode == 0, made.stderr
    return json.loads(made.stderr.splitlines()[-1])["archive"]


def restore(mongo_uri: str, url: str, *arguments: str, identity: Path | None = None) -> subprocess.CompletedProcess:
    env = {"VAULTUI_TARGET_URI": mongo_uri, "VAULTUI_STORAGE": url}
    if identity is not None:
        env["VAULTUI_AGE_IDENTITY_FILE"] = str(identity)
    return run_vaultui("--headless", "restore", *arguments, env=env)


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_encrypted_round_trip_and_verify_with_and_without_the_key(
    kind: str,
    source: str,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    url = storage_url(kind, tmp_path, request, "sealed")
    first, first_key = make_identity(tmp_path, "first")
    second, second_key = make_identity(tmp_path, "second")  # key rotation: two recipients, either opens it
    name = backup(mongo_uri, url, source, first, second)
    assert name.endswith(".tar.zst.age")

    storage = open_storage(url)
    [entry] = list_archives(storage)
    manifest = entry.manifest(storage)
    assert manifest is not None and manifest.encryption is not None
    assert manifest.encryption.recipients == [first, second]
    with storage.open_read(name) as raw:
        head = raw.read(64)
    assert head.startswith(b"age-encryption.org/v1\n")  # nothing readable at rest

    # Without the key (the backup's own pod): the stored bytes are checked, and it says what was not.
    sealed = run_vaultui("--headless", "verify", name, "--json", env={"VAULTUI_STORAGE": url})
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr
    [report] = json.loads(sealed.stdout)
    assert report["ok"] and "no age identity" in report["sealed"]
    # With the key: everything, every collection's count and checksum.
    opened = run_vaultui(
        "--headless",
        "verify",
        name,
        "--json",
        env={"VAULTUI_STORAGE": url, "VAULTUI_AGE_IDENTITY_FILE": str(second_key)},
    )
    assert opened.returncode == 0, opened.stdout + opened.stderr
    [report] = json.loads(opened.stdout)
    assert report["ok"] and not report["sealed"] and report["documents"] == sum(COUNTS.values())

    target = f"{source}_sealed"
    done = restore(mongo_uri, url, "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*", identity=first_key)
    assert done.returncode == 0, done.stderr
    for collection in COUNTS:
        assert raw_documents(mongo_client[target][collection]) == raw_documents(mongo_client[source][collection])


def test_by_hand_with_age_tar_and_the_real_mongorestore(
    source: str,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    tmp_path: Path,
) -> None:
    """The escape hatch stays real: Debian's age decrypts, tar unpacks, the real mongorestore loads."""
    age = shutil.which("age")
    assert age, "the age command line tool is part of the test bed (Debian package age; .ci/run installs it)"
    backups = tmp_path / "backups"
    backups.mkdir()
    public, key = make_identity(tmp_path, "oncall")
    name = backup(mongo_uri, str(backups), source, public)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(
        f"{age} -d -i {key} {backups / name} | tar --zstd -x -C {unpacked}", shell=True, check=True, timeout=120
    )
    stamp = name.split(".")[0]
    restored = f"{source}_byhand"
    subprocess.run(
        [
            str(mongo_tools["mongorestore"]),
            f"--uri={mongo_uri}",
            "--noIndexRestore",  # the real mongorestore sends the legacy "ns" index option FerretDB rejects
            f"--nsFrom={source}.*",
            f"--nsTo={restored}.*",
            str(unpacked / stamp),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for collection in COUNTS:
        assert raw_documents(mongo_client[restored][collection]) == raw_documents(mongo_client[source][collection])


def test_a_wrong_or_missing_key_changes_nothing_and_says_which_key(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    public, _ = make_identity(tmp_path, "right")
    _, wrong_key = make_identity(tmp_path, "wrong")
    name = backup(mongo_uri, str(backups), source, public)
    target = f"{source}_never"
    remap = ("--ns-from", f"{source}.*", "--ns-to", f"{target}.*")

    missing = restore(mongo_uri, str(backups), "--latest", *remap)
    assert missing.returncode == ExitCode.CONFIG, missing.stderr
    assert "encrypted with age" in missing.stderr and public in missing.stderr
    assert "--age-identity-file" in missing.stderr  # the CLI names its flag

    wrong = restore(mongo_uri, str(backups), "--latest", *remap, identity=wrong_key)
    assert wrong.returncode == ExitCode.CONFIG, wrong.stderr
    assert f"no identity in the age identity file opens {name}" in wrong.stderr
    assert "falling back" not in wrong.stderr.lower()  # a key problem is not a reason to restore an older archive
    for extra in (["--dry-run"], ["--two-pass"]):  # the verify-first paths stop there too, never try another
        verify_first = restore(mongo_uri, str(backups), "--latest", *remap, *extra, identity=wrong_key)
        assert verify_first.returncode == ExitCode.CONFIG, verify_first.stdout + verify_first.stderr
    keyless_dry_run = restore(mongo_uri, str(backups), "--latest", "--dry-run", *remap)
    assert keyless_dry_run.returncode == ExitCode.CONFIG, keyless_dry_run.stdout  # not an empty "would restore"

    broken = tmp_path / "broken.txt"
    broken.write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    garbled = restore(mongo_uri, str(backups), "--latest", *remap, identity=broken)
    assert garbled.returncode == ExitCode.CONFIG and "line 1 of" in garbled.stderr

    assert target not in mongo_client.list_database_names()
    storage = open_storage(str(backups))
    assert not [run for run in list_runs(storage, "verify") if run.result == "failure"]  # nothing condemned


@pytest.mark.parametrize("where", ["header", "body", "end"])
def test_a_damaged_encrypted_archive_is_corrupt_and_changes_nothing(
    where: str, source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    public, key = make_identity(tmp_path, "oncall")
    name = backup(mongo_uri, str(backups), source, public)
    data = bytearray((backups / name).read_bytes())
    if where == "header":
        data[40] ^= 0x01  # inside the recipient stanza
    elif where == "body":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[:-10]
    (backups / name).write_bytes(bytes(data))
    target = f"{source}_never"
    done = restore(
        mongo_uri, str(backups), "--archive", name, "--ns-from", f"{source}.*", "--ns-to", f"{target}.*", identity=key
    )
    assert done.returncode == ExitCode.VERIFICATION_FAILED, done.stderr
    assert "nothing was changed" in done.stderr
    assert target not in mongo_client.list_database_names()
    # And without the key, the stored bytes no longer match the manifest.
    sealed = run_vaultui("--headless", "verify", name, "--json", env={"VAULTUI_STORAGE": str(backups)})
    assert sealed.returncode == ExitCode.VERIFICATION_FAILED
    assert "sha256 does not match" in sealed.stdout or "size is" in sealed.stdout


def test_a_bad_recipient_is_a_setting_error_before_anything_is_written(
    source: str, mongo_uri: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    made = run_vaultui(
        "--headless",
        "backup",
        "--db",
        source,
        env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(backups), "VAULTUI_AGE_RECIPIENTS": "age1nope"},
    )
    assert made.returncode == ExitCode.CONFIG, made.stderr
    assert "is not an age recipient" in made.stderr and "VAULTUI_AGE_RECIPIENTS" in made.stderr
    assert not list_archives(open_storage(str(backups)))


def test_point_in_time_with_sealed_archives_and_oplog_chunks(replica: servers.Server, tmp_path: Path) -> None:
    """The oplog is encrypted too (its chunks hold every write): a restore to a time opens base and chunks."""
    client: pymongo.MongoClient = pymongo.MongoClient(replica.url)
    client.sealed.orders.insert_many([{"_id": n, "n": n} for n in range(30)])
    backups = tmp_path / "backups"
    backups.mkdir()
    public, key = make_identity(tmp_path, "oncall")
    env = {
        "VAULTUI_MONGO_URI": replica.url,
        "VAULTUI_TARGET_URI": replica.url,
        "VAULTUI_STORAGE": str(backups),
        "VAULTUI_AGE_RECIPIENTS": public,
    }
    assert run_vaultui("--headless", "backup", "--db", "sealed", env=env).returncode == 0
    client.sealed.orders.update_many({"n": {"$lt": 10}}, {"$set": {"paid": True}})
    client.sealed.orders.delete_many({"n": {"$gte": 25}})
    entry = next(iter(client.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", -1).limit(1)))
    when = f"{entry['ts'].time}:{entry['ts'].inc}"
    expected = sorted(raw_documents(client.sealed.orders))
    captured = run_vaultui("--headless", "oplog", "--once", env=env)
    assert captured.returncode == 0, captured.stderr
    chunks = list_chunks(open_storage(str(backups)))
    assert chunks and all(chunk.chunk.endswith(".bson.zst.age") for chunk in chunks)
    assert all((backups / chunk.chunk).read_bytes().startswith(b"age-encryption.org/v1\n") for chunk in chunks)

    remap = ("--ns-from", "sealed.*", "--ns-to", "unsealed.*")
    without = run_vaultui("--headless", "restore", "--to-time", when, *remap, env=env)
    assert without.returncode == ExitCode.CONFIG, without.stderr
    assert "unsealed" not in client.list_database_names()
    done = run_vaultui(
        "--headless", "restore", "--to-time", when, *remap, env={**env, "VAULTUI_AGE_IDENTITY_FILE": str(key)}
    )
    assert done.returncode == 0, done.stderr
    assert sorted(raw_documents(client.unsealed.orders)) == expected


def test_status_flags_archives_no_configured_identity_opens(source: str, mongo_uri: str, tmp_path: Path) -> None:
    """Key rotation: archives sealed to the old key stay restorable only while its identity is kept."""
    backups = tmp_path / "backups"
    backups.mkdir()
    old, old_key = make_identity(tmp_path, "old")
    new, new_key = make_identity(tmp_path, "new")
    before = backup(mongo_uri, str(backups), source, old)
    wait_for_next_second(before)
    backup(mongo_uri, str(backups), source, new)
    both = tmp_path / "both.txt"
    both.write_text(old_key.read_text() + new_key.read_text())

    def status(identity: Path | None) -> dict:
        env = {"VAULTUI_STORAGE": str(backups)} | ({"VAULTUI_AGE_IDENTITY_FILE": str(identity)} if identity else {})
        return json.loads(run_vaultui("--headless", "status", "--json", env=env).stdout)

    assert status(None)["unopenable"] is None  # the backup's pod: no identity, nothing checked
    assert status(new_key)["unopenable"] == [before]
    assert status(both)["unopenable"] == []
    text = run_vaultui(
        "--headless", "status", env={"VAULTUI_STORAGE": str(backups), "VAULTUI_AGE_IDENTITY_FILE": str(new_key)}
    ).stdout
    [line] = [line for line in text.splitlines() if line.startswith("KEYS")]
    assert "1 encrypted archives no configured age identity opens" in line and line.endswith(before)


def wait_for_next_second(name: str) -> None:
    """Archives are named by their start second: the next backup must start in a later one."""
    stamp = datetime.strptime(name.split(".")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    while datetime.now(UTC) < stamp + timedelta(seconds=1):
        time.sleep(0.05)  # waits for a state (the clock's next second), not for a guessed duration


class _Faulty:
    """A storage stream that raises a transient fault at its `at`-th call, as a reset connection does."""

    def __init__(self, data: bytes = b"", at: int = 1) -> None:
        self.data, self.at, self.calls, self.position = data, at, 0, 0

    def _call(self) -> None:
        self.calls += 1
        if self.calls >= self.at:
            raise TransientFault("connection reset by the storage")

    def read(self, size: int = -1) -> bytes:
        self._call()
        chunk = self.data[self.position : self.position + (size if size >= 0 else len(self.data))]
        self.position += len(chunk)
        return chunk

    def write(self, data: bytes) -> int:
        self._call()
        return len(data)


@pytest.mark.parametrize("size", [100, 70_000, (1 << 20) + 100])
def test_a_storage_fault_while_sealing_keeps_its_type_even_on_the_last_small_write(size: int) -> None:
    """pyrage buffers its last write and drops an error raised there: the fault is re-raised as itself."""
    identity = x25519.Identity.generate()
    with pytest.raises(TransientFault), AgeWriter(_Faulty(at=1), [identity.to_public()]) as writer:
        writer.write(b"x" * size)


def test_a_storage_fault_while_opening_is_not_called_corrupt() -> None:
    identity = x25519.Identity.generate()
    sealed = pyrage.encrypt(b"payload" * 1000, [identity.to_public()])
    with AgeReader(_Faulty(sealed, at=1), [identity], "A.tar.zst.age") as reader, pytest.raises(TransientFault):
        reader.read(100)


def test_gzip_reads_past_the_end_of_an_age_stream_without_hanging() -> None:
    """gzip asks for more after its trailer: an ended age stream keeps answering b"" (it once hung here)."""
    identity = x25519.Identity.generate()
    sealed = pyrage.encrypt(gzip.compress(b"archive" * 10_000), [identity.to_public()])
    with AgeReader(io.BytesIO(sealed), [identity], "A.tar.gz.age") as reader:
        assert gzip.GzipFile(fileobj=reader).read() == b"archive" * 10_000
        assert reader.read(10) == b"" and reader.read(10) == b""


def test_an_age_stream_cut_between_chunks_is_corrupt() -> None:
    identity = x25519.Identity.generate()
    plain = b"y" * (3 * 64 * 1024)  # three full 64 KiB chunks, then age's last, empty one
    sealed = pyrage.encrypt(plain, [identity.to_public()])
    header = len(sealed) - 4 * 16 - len(plain)  # every chunk carries a 16-byte tag
    for cut in (header + 64 * 1024 + 16, len(sealed) - 16):
        with AgeReader(io.BytesIO(sealed[:cut]), [identity], "A.tar.zst.age") as reader:
            with pytest.raises(VerificationError):
                while reader.read(1 << 16):
                    pass


def test_a_keyless_verify_never_overrides_a_verdict_on_the_contents() -> None:
    """Only the stored bytes were checked: an older failure on the contents stands; alone it decides nothing."""
    from engine.evidence.ledger import RunRecord
    from engine.evidence.verifications import latest_verifications

    def verify(started: str, result: str, **details: object) -> RunRecord:
        return RunRecord("verify", started, started, result, archive="A.tar.zst.age", details=dict(details))

    sealed = verify("2026-11-26T02:00:00+00:00", "success", contents_checked=False)
    corrupt = verify("2026-11-25T02:00:00+00:00", "failure")
    assert latest_verifications([sealed, corrupt]) == {"A.tar.zst.age": False}
    assert latest_verifications([sealed]) == {}
