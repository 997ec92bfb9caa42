"""S3 Object Lock against the real moto server: holds that the backup identity cannot undo, and purges that
destroy every version or say why S3 keeps one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from engine.archive.catalog import list_archives
from engine.archive.holds import list_holds, place_hold, release_hold
from engine.common.config import DEFAULT_MAX_AGE_DAYS
from engine.sla.retention import RetentionPolicy, apply_purge
from engine.storage import FolderStorage, ObjectLock, write_bytes
from engine.storage.errors import AccessDenied
from engine.storage.s3 import S3Storage
from tests.bed import servers
from tests.helpers import run_vaultui, s3_user

BUCKET_SETTINGS = Path(__file__).parent.parent / "k8s" / "s3"
PREFIX = "prod/"
POLICY = RetentionPolicy(max_age_days=90, keep_last=1)


def fake_archive(storage: S3Storage | FolderStorage, days_old: int) -> str:
    """An archive object as far as listing, retention and holds care (content is never read by them)."""
    name = (datetime.now(UTC) - timedelta(days=days_old)).strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
    write_bytes(storage, name, b"x" * 100)
    write_bytes(storage, name + ".manifest.json", b"{}")
    return name


def lock_bucket(s3_client, retention: str | None = None) -> str:  # noqa: ANN001 - a boto3 client
    """A fresh bucket with Object Lock, and a 1-day default retention in mode `retention` if given (moto takes
    the default rule on an empty bucket only)."""
    name = f"vaultui-lock-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    if retention:
        rule = {"DefaultRetention": {"Mode": retention, "Days": 1}}
        configuration = {"ObjectLockEnabled": "Enabled", "Rule": rule}
        s3_client.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=configuration)
    return name


def legal_hold(s3_client, bucket: str, key: str) -> str | None:  # noqa: ANN001
    return s3_client.get_object_legal_hold(Bucket=bucket, Key=PREFIX + key)["LegalHold"].get("Status")


def versions(s3_client, bucket: str, key: str) -> list[str]:  # noqa: ANN001
    """Every version and delete marker of `key` that S3 still has."""
    page = s3_client.list_object_versions(Bucket=bucket, Prefix=PREFIX + key)
    items = page.get("Versions", []) + page.get("DeleteMarkers", [])
    return [item["VersionId"] for item in items if item["Key"] == PREFIX + key]


def test_hold_sets_and_unhold_clears_the_legal_hold_on_archive_and_manifest(s3_client) -> None:  # noqa: ANN001
    bucket = lock_bucket(s3_client)
    storage = S3Storage(bucket, PREFIX, client=s3_client)
    name = fake_archive(storage, 3)
    place_hold(storage, name, "incident 2026-11-02")
    assert legal_hold(s3_client, bucket, name) == "ON"
    assert legal_hold(s3_client, bucket, name + ".manifest.json") == "ON"
    [listed] = list_holds(storage)
    assert listed.hold.archive == name and listed.locked is True and not listed.orphaned

    # What the backup identity could do with a sidecar-only hold: S3 refuses it now.
    [version] = versions(s3_client, bucket, name)
    with pytest.raises(ClientError) as refused:
        s3_client.delete_object(Bucket=bucket, Key=PREFIX + name, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    released = release_hold(storage, name)
    assert released.reason == "incident 2026-11-02"
    assert legal_hold(s3_client, bucket, name) == "OFF"
    assert legal_hold(s3_client, bucket, name + ".manifest.json") == "OFF"
    assert list_holds(storage) == [] and storage.stat(name + ".hold.json") is None
    storage.destroy(name)
    assert versions(s3_client, bucket, name) == [], "released, every version can go"


def test_the_holds_command_says_which_holds_s3_keeps(s3_client, s3_env: dict[str, str]) -> None:  # noqa: ANN001
    bucket = lock_bucket(s3_client)
    storage = S3Storage(bucket, PREFIX, client=s3_client)
    locked, unlocked = fake_archive(storage, 3), fake_archive(storage, 4)
    env = {"VAULTUI_STORAGE": f"s3://{bucket}/{PREFIX}"}
    for name in (locked, unlocked):
        held = run_vaultui("--headless", "hold", name, "--reason", "incident", env=env)
        assert held.returncode == 0, held.stderr
    s3_client.put_object_legal_hold(Bucket=bucket, Key=PREFIX + unlocked, LegalHold={"Status": "OFF"})
    listed = run_vaultui("--headless", "holds", "--json", env=env)
    assert {item["archive"]: item["locked"] for item in json.loads(listed.stdout)} == {locked: True, unlocked: False}
    text = run_vaultui("--headless", "holds", env=env).stdout
    assert f"{locked}  held, S3 legal hold" in text and f"{unlocked}  held, NO S3 legal hold" in text


def test_purge_destroys_every_version_and_skips_a_legally_held_archive(s3_client) -> None:  # noqa: ANN001
    bucket = lock_bucket(s3_client)
    storage = S3Storage(bucket, PREFIX, client=s3_client)
    held, doomed = fake_archive(storage, 120), fake_archive(storage, 100)
    fake_archive(storage, 3)
    place_hold(storage, held, "audit")
    s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}{held}.hold.json")  # the backup identity drops the sidecar

    result = apply_purge(storage, POLICY)
    assert result.deleted == [doomed]
    assert versions(s3_client, bucket, doomed) == [] and versions(s3_client, bucket, doomed + ".manifest.json") == []
    [(skipped, reason)] = result.skipped
    assert skipped == held and "under an S3 legal hold" in reason
    assert held in {entry.name for entry in list_archives(storage)}, "still listed, not hidden by a delete marker"

    # unhold lifts a legal hold whose sidecar is gone; then the archive goes
    assert "without its hold file" in release_hold(storage, held).reason
    again = apply_purge(storage, POLICY)
    assert again.deleted == [held] and not again.skipped
    assert versions(s3_client, bucket, held) == []


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
def test_purge_reports_archives_locked_by_default_retention_and_goes_on(s3_client, mode: str) -> None:  # noqa: ANN001
    bucket = lock_bucket(s3_client, retention=mode)
    storage = S3Storage(bucket, PREFIX, client=s3_client)
    assert storage.object_lock() == ObjectLock(mode, 1)
    old = [fake_archive(storage, days) for days in (120, 100)]
    fake_archive(storage, 3)
    tomorrow = f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%d}"
    for attempt in range(2):  # the second run shows the lease and ledger work on a locked bucket too
        result = apply_purge(storage, POLICY)
        assert result.deleted == [], attempt
        assert sorted(name for name, _ in result.skipped) == sorted(old)
        for _, reason in result.skipped:
            assert f"locked until {tomorrow}" in reason and f"({mode} mode)" in reason
    assert {entry.name for entry in list_archives(storage)} >= set(old)
    assert all(len(versions(s3_client, bucket, name)) == 1 for name in old), "no delete marker hides them"


def test_the_shipped_bucket_settings_apply(s3_client) -> None:  # noqa: ANN001
    bucket = lock_bucket(s3_client)
    retention = json.loads((BUCKET_SETTINGS / "object-lock-default-retention.json").read_text())
    s3_client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=retention)
    lifecycle = json.loads((BUCKET_SETTINGS / "lifecycle-object-lock.json").read_text())
    s3_client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle)
    assert S3Storage(bucket, PREFIX, client=s3_client).object_lock() == ObjectLock("COMPLIANCE", 89)
    assert DEFAULT_MAX_AGE_DAYS > 89, "the lock has always passed when purge comes"


def test_a_bucket_without_object_lock_works_as_before(s3_client, s3_bucket: str) -> None:  # noqa: ANN001
    asked = []
    s3_client.meta.events.register("before-call.s3.GetObjectLockConfiguration", lambda **_: asked.append(1))
    storage = S3Storage(s3_bucket, PREFIX, client=s3_client)
    held, doomed = fake_archive(storage, 120), fake_archive(storage, 100)
    fake_archive(storage, 3)
    place_hold(storage, held, "audit")
    assert storage.object_lock() is None and storage.set_legal_hold(held, True) is False
    assert storage.legal_hold(held) is None
    [listed] = list_holds(storage)
    assert listed.locked is None and storage.stat(held + ".hold.json") is not None
    result = apply_purge(storage, POLICY)
    assert result.deleted == [doomed] and not result.skipped
    assert storage.stat(doomed) is None and storage.stat(held) is not None
    release_hold(storage, held)
    assert storage.stat(held + ".hold.json") is None
    assert len(asked) == 1, "the bucket's Object Lock is asked about once per storage"


def test_a_folder_has_no_legal_holds(backups: Path) -> None:
    storage = FolderStorage(backups)
    name = fake_archive(storage, 3)
    place_hold(storage, name, "audit")
    assert storage.object_lock() is None and storage.set_legal_hold(name, True) is False
    assert [item.locked for item in list_holds(storage)] == [None]
    release_hold(storage, name)
    assert not (backups / f"{name}.hold.json").exists()


def restricted_client(server: servers.Server, bucket: str):  # noqa: ANN201 - a boto3 client
    """Credentials that may do everything but put to the bucket's objects. moto authorizes a legal hold as
    s3:PutObject (AWS: s3:PutObjectLegalHold), so both are denied. The bed's IAM user may not create users:
    moto's reset-auth lets the next three calls (this user, its policy, its key) through unsigned."""
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["s3:PutObject", "s3:PutObjectLegalHold"], "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]
    key = s3_user(server.url, "no-legal-hold", statements)
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=key["AWS_SECRET_ACCESS_KEY"],
    )


def test_a_refused_legal_hold_names_the_permission_and_claims_no_hold(s3_client, s3_server) -> None:  # noqa: ANN001
    bucket = lock_bucket(s3_client)
    storage = S3Storage(bucket, PREFIX, client=s3_client)
    name, other = fake_archive(storage, 3), fake_archive(storage, 4)
    denied = S3Storage(bucket, PREFIX, client=restricted_client(s3_server, bucket))

    with pytest.raises(AccessDenied) as refused:
        place_hold(denied, name, "incident")
    message = str(refused.value)
    assert "s3:PutObjectLegalHold" in message and f"{name} was not held" in message
    assert storage.stat(name + ".hold.json") is None, "no sidecar claims a hold S3 did not take"
    assert legal_hold(s3_client, bucket, name) is None

    place_hold(storage, other, "incident")
    with pytest.raises(AccessDenied) as kept:
        release_hold(denied, other)
    assert "s3:PutObjectLegalHold" in str(kept.value) and f"the hold on {other} stays" in str(kept.value)
    assert storage.stat(other + ".hold.json") is not None and legal_hold(s3_client, bucket, other) == "ON"
