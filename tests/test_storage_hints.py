"""Hints that match the failure: every storage error × operation × backend names the operation that failed and
what the user running vaultui needs for it (a folder permission, or the IAM action on S3)."""

from __future__ import annotations

import errno
from pathlib import Path

import boto3
import pytest

from engine.storage.errors import AccessDenied
from engine.storage.fs import _explain
from engine.storage.s3 import S3Storage
from tests.helpers import s3_user

FOLDER_CASES = {
    # operation: what the hint must give
    "read": "read access to it",
    "write": "write access to its folder",
    "list": "read and search (r-x) access to the folder",
    "delete": "write access to the folder holding it",
}


@pytest.mark.parametrize("operation", list(FOLDER_CASES))
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "no permission to {operation} /backup/x: give the user"),
        (
            OSError(errno.EROFS, "Read-only file system"),
            "cannot {operation} /backup/x: the volume is mounted read-only",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left to {operation} /backup/x"),
        (OSError(errno.EIO, "Input/output error"), "cannot {operation} /backup/x: Input/output error"),
    ],
)
def test_folder_hints_name_the_operation_and_the_grant(operation: str, error: OSError, expected: str) -> None:
    """Run as root here, so permissions cannot be taken away for real: the errors the OS raises are fed in."""
    message = str(_explain(error, operation, Path("/backup/x")))
    assert message.startswith(expected.format(operation=operation)), message
    if isinstance(error, PermissionError):
        assert message.endswith(FOLDER_CASES[operation]) and "uid" in message
    assert "write access" not in message or FOLDER_CASES[operation].startswith("write")


S3_CASES = [
    # (operation, the IAM action a user lacks, what vaultui does with it)
    ("read", "s3:GetObject", lambda storage: storage.open_read("a.txt").read()),
    ("list", "s3:ListBucket", lambda storage: list(storage.list(""))),
    ("write", "s3:PutObject", lambda storage: storage.create_new("b.txt", b"x")),
    ("delete", "s3:DeleteObject", lambda storage: storage.delete("a.txt")),
]


@pytest.mark.parametrize(("operation", "denied", "call"), S3_CASES, ids=[case[0] for case in S3_CASES])
def test_s3_denials_name_the_iam_action(operation: str, denied: str, call, s3_server, s3_client, s3_bucket) -> None:  # noqa: ANN001
    """Against moto's IAM-checking S3: a user allowed everything but one action is told exactly that action."""
    s3_client.put_object(Bucket=s3_bucket, Key="hints/a.txt", Body=b"hello")
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": [denied], "Resource": "*"},
    ]
    key = s3_user(s3_server.url, f"no-{operation}", statements)
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id=key["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=key["AWS_SECRET_ACCESS_KEY"],
    )
    storage = S3Storage(s3_bucket, "hints", client=client)
    with pytest.raises(AccessDenied) as raised:
        call(storage)
    message = str(raised.value)
    assert f"to {operation} s3://{s3_bucket}/hints" in message and f"grant {denied}" in message, message


def test_a_restore_names_a_missing_storage_before_an_unreachable_target(tmp_path: Path) -> None:
    """Both are wrong: the storage (cheap, local) is checked first, so the first error is the first to fix."""
    from tests.helpers import run_vaultui

    missing = tmp_path / "not-mounted"
    env = {"VAULTUI_STORAGE": str(missing), "VAULTUI_TARGET_URI": "mongodb://127.0.0.1:1/"}
    done = run_vaultui("--headless", "restore", "--latest", "--dry-run", env=env)
    error = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and f"storage folder {missing} does not exist" in error, done.stderr
    assert "127.0.0.1:1" not in error
