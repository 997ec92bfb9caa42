"""Broken and hostile inputs that used to pass as good or crash: every checksum is read, every document
decoded, every sidecar and ledger record checked, and one broken file affects only itself."""

from __future__ import annotations

import json
from pathlib import Path

import bson
import pytest

from engine.archive.catalog import find_archive
from engine.evidence.verify import verify_archive
from engine.storage import open_storage
from tests.helpers import files_tar_gz, run_vaultui
from vaultui.exit_codes import ExitCode

DAY = "20261001"


def legacy_archive(folder: Path, members: dict[str, bytes]) -> Path:
    archive = folder / f"{DAY}.tar.gz"
    archive.write_bytes(files_tar_gz(members))
    return archive


def good_members() -> dict[str, bytes]:
    documents = b"".join(bson.encode({"_id": number, "name": f"n{number}"}) for number in range(50))
    return {f"{DAY}/shop/orders.bson": documents, f"{DAY}/shop/orders.metadata.json": b'{"options":{},"indexes":[]}'}


def verify(folder: Path) -> list[str]:
    storage = open_storage(str(folder))
    return verify_archive(storage, find_archive(storage, f"{DAY}.tar.gz")).problems


def test_a_good_legacy_archive_verifies(tmp_path: Path) -> None:
    legacy_archive(tmp_path, good_members())
    assert verify(tmp_path) == []


@pytest.mark.parametrize("damage", ["trailer cut", "crc flipped", "length flipped"])
def test_the_gzip_trailer_is_checked(tmp_path: Path, damage: str) -> None:
    archive = legacy_archive(tmp_path, good_members())
    data = bytearray(archive.read_bytes())
    if damage == "trailer cut":
        del data[-8:]
    else:
        data[-8 if damage == "crc flipped" else -4] ^= 0xFF
    archive.write_bytes(bytes(data))
    problems = verify(tmp_path)
    assert problems and "truncated or corrupt" in problems[0]


def test_a_document_that_frames_but_does_not_decode_fails(tmp_path: Path) -> None:
    # A valid length and a trailing NUL around an element of unknown type 0x99.
    broken = b"\x0c\x00\x00\x00" + b"\x99a\x00" + b"\x00\x00\x00\x00" + b"\x00"
    members = good_members()
    members[f"{DAY}/shop/orders.bson"] += broken
    legacy_archive(tmp_path, members)
    problems = verify(tmp_path)
    assert problems and "does not decode" in problems[0]


@pytest.mark.parametrize(
    "metadata",
    [b'{"options": [], "indexes": []}', b'{"indexes": {"a": 1}}', b'{"options": {"x": {"$numberDecimal": "junk"}}}'],
)
def test_malformed_metadata_fails_verify_before_anything_is_touched(tmp_path: Path, metadata: bytes) -> None:
    members = good_members()
    members[f"{DAY}/shop/orders.metadata.json"] = metadata
    legacy_archive(tmp_path, members)
    problems = verify(tmp_path)
    assert problems and "orders.metadata.json" in problems[0]


@pytest.mark.parametrize(
    "manifest",
    [
        "[]",
        '{"archive": "x", "archive_bytes": "many"}',
        '{"collections": [{"database": "shop", "collection": "orders", "documents": "ten"}]}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_a_broken_manifest_is_reported_not_a_traceback(tmp_path: Path, manifest: str) -> None:
    name = "20261002T000000Z.tar.zst"
    (tmp_path / name).write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 64)
    (tmp_path / f"{name}.manifest.json").write_text(manifest)
    done = run_vaultui("--headless", "verify", name, env={"VAULTUI_STORAGE": str(tmp_path)})
    assert done.returncode in (ExitCode.VERIFICATION_FAILED, ExitCode.STORAGE), done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "unreadable" in done.stderr + done.stdout


@pytest.mark.parametrize(
    "record",
    [
        "[]",
        '{"kind": "backup", "started_at": "2026-11-01T00:00:00", "finished_at": "x", "result": "success"}',
        '{"kind": "backup", "started_at": "not a time", "finished_at": "x", "result": "success"}',
        '{"kind": "backup", "started_at": "2026-11-01T00:00:00+00:00", "finished_at": "2026-11-01T00:00:00+00:00",'
        ' "result": "success", "duration_seconds": "long"}',
        "{" * 3000,
    ],
)
def test_a_malformed_ledger_record_affects_only_itself(tmp_path: Path, record: str) -> None:
    runs = tmp_path / "_vaultui" / "runs"
    runs.mkdir(parents=True)
    (runs / "20261101T000000000000Z-backup-bad.json").write_text(record)
    env = {"VAULTUI_STORAGE": str(tmp_path)}
    status = run_vaultui("--headless", "status", env=env)
    assert status.returncode in (ExitCode.OK, ExitCode.COMPLIANCE_BELOW_TARGET), status.stderr
    report = run_vaultui("--headless", "report", "--month", "2026-11", env=env)
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in status.stderr + report.stderr
    assert json.loads(run_vaultui("--headless", "list", "--json", env=env).stdout) == []


def test_status_counts_what_it_skipped(tmp_path: Path) -> None:
    """Broken ledger records and hold files are skipped one by one, and status names them."""
    legacy_archive(tmp_path, good_members())
    (tmp_path / f"{DAY}.tar.gz.hold.json").write_text('{"archive": ' * 50_000)
    (tmp_path / "_vaultui" / "runs").mkdir(parents=True)
    (tmp_path / "_vaultui" / "runs" / "20261001T000000000000Z-backup-abc.json").write_text('{"kind": []}')
    done = run_vaultui("--headless", "status", env={"VAULTUI_STORAGE": str(tmp_path)})
    assert "Traceback" not in done.stderr, done.stderr
    assert "broken       2 files skipped as unreadable" in done.stdout
    assert "$.kind" in done.stdout and "unreadable hold file" in done.stdout


def test_a_manifest_whose_checksums_match_does_not_vouch_for_the_documents(tmp_path: Path) -> None:
    """A forged (or buggy) writer: every sha256 and count in the manifest matches the bytes, but a document has
    an element of unknown type. Verify reads every document anyway, fails it, and never says contents ok."""
    import hashlib
    from datetime import UTC, datetime

    from engine.archive.format import parse_archive_name
    from engine.archive.manifest import CollectionEntry, Manifest, write_manifest

    stamp = "20261001T000000Z"
    broken = b"\x0c\x00\x00\x00" + b"\x99a\x00" + b"\x00\x00\x00\x00" + b"\x00"
    documents = good_members()[f"{DAY}/shop/orders.bson"] + broken
    name = f"{stamp}.tar.gz"
    (tmp_path / name).write_bytes(
        files_tar_gz(
            {
                f"{stamp}/shop/orders.bson": documents,
                f"{stamp}/shop/orders.metadata.json": b'{"options":{},"indexes":[],"collectionName":"orders"}',
            }
        )
    )
    stored = (tmp_path / name).read_bytes()
    now = datetime(2026, 10, 1, tzinfo=UTC).isoformat()
    manifest = Manifest(
        archive=name, stamp=stamp, codec="gzip", archive_bytes=len(stored),
        archive_sha256=hashlib.sha256(stored).hexdigest(), started_at=now, finished_at=now, duration_seconds=1.0,
        server_version="7.0.0", dumper="native", tool_version="vaultui",
        collections=[CollectionEntry("shop", "orders", documents=51, bson_bytes=len(documents),
                                     bson_sha256=hashlib.sha256(documents).hexdigest())],
    )  # fmt: skip
    storage = open_storage(str(tmp_path))
    ref = parse_archive_name(name)
    assert ref is not None
    write_manifest(storage, ref, manifest)

    report = verify_archive(storage, find_archive(storage, name))
    assert report.checksum_checked and not report.ok and "does not decode" in report.problems[0]
    done = run_vaultui("--headless", "verify", "--all", env={"VAULTUI_STORAGE": str(tmp_path)})
    assert done.returncode != 0 and "contents" not in done.stdout.replace("checked:", ""), done.stdout
    assert "does not decode" in done.stdout + done.stderr
