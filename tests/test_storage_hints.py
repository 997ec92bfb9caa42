"""Hints that match the failure: every storage error × operation × backend names the operation that failed and
what the user running vaultui needs for it (a folder permission, or the IAM action on S3)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from engine.storage.errors import AccessDenied
from engine.storage.fs import _explain
from engine.storage.s3 import S3Storage
from tests.helpers import VAULTUI, run_vaultui, s3_user
from vaultui.exit_codes import ExitCode

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


@pytest.mark.parametrize(("denied", "command", "said"), [
    ("s3:GetObject", ["verify", "--all"], "to read s3://{bucket}/nightly/{old}"),
    ("s3:DeleteObject", ["purge"], "to delete s3://{bucket}/nightly/{old}"),
    ("s3:ListBucket", ["list"], "to list s3://{bucket}/nightly"),
], ids=["verify", "purge", "list"])  # fmt: skip
def test_s3_denials_through_the_commands(
    denied: str, command: list[str], said: str, s3_server, s3_client, s3_bucket  # noqa: ANN001
) -> None:
    """The real commands against moto's IAM-checking S3, as a user denied one action: the message names the
    operation, the object and the action to grant; the command ends with its storage exit code, no traceback."""
    now = datetime.now(UTC)
    old = (now - timedelta(days=120)).strftime("%Y%m%d") + ".tar.gz"
    for name in [old, *((now - timedelta(days=days)).strftime("%Y%m%d") + ".tar.gz" for days in range(1, 5))]:
        s3_client.put_object(Bucket=s3_bucket, Key=f"nightly/{name}", Body=b"x" * 64)
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": [denied], "Resource": "*"},
    ]
    env = {**s3_user(s3_server.url, denied.split(":")[1].lower(), statements), "VAULTUI_STORAGE": f"s3://{s3_bucket}/nightly"}
    done = run_vaultui("--headless", *command, env=env)
    output = done.stdout + done.stderr
    assert done.returncode in (ExitCode.STORAGE, ExitCode.VERIFICATION_FAILED), output
    assert said.format(bucket=s3_bucket, old=old) in output and f"grant {denied}" in output, output
    assert "Traceback" not in output


def test_a_restore_names_a_missing_storage_before_an_unreachable_target(tmp_path: Path) -> None:
    """Both are wrong: the storage (cheap, local) is checked first, so the first error is the first to fix."""
    missing = tmp_path / "not-mounted"
    env = {"VAULTUI_STORAGE": str(missing), "VAULTUI_TARGET_URI": "mongodb://127.0.0.1:1/"}
    done = run_vaultui("--headless", "restore", "--latest", "--dry-run", env=env)
    error = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and f"storage folder {missing} does not exist" in error, done.stderr
    assert "127.0.0.1:1" not in error


# Root without the capabilities that override file modes: it is then held to the owner bits like anyone else
# (the files here are its own), so permissions can be taken away for real on this root-only machine.
UNPRIVILEGED = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def run_without_override(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VAULTUI_")}
    environment.update(env)
    return subprocess.run(
        [*UNPRIVILEGED, VAULTUI, *arguments], capture_output=True, text=True, env=environment, timeout=120, check=False
    )


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="drops root's override of file modes")
def test_folder_hints_through_the_commands_as_a_user_without_the_grant(tmp_path: Path) -> None:
    """The real call paths, not fed errors: `verify --all` over an archive the user cannot read, `list` of a folder
    it cannot list, `purge` of an archive it cannot delete (its folder is read-only to it, the lease and ledger
    folders are not), `backup` into a folder it cannot write. Each names the operation, the path and the grant."""
    storage = tmp_path / "backups"
    storage.mkdir()
    now = datetime.now(UTC)
    unreadable = (now - timedelta(days=120)).strftime("%Y%m%d") + ".tar.gz"
    (storage / unreadable).write_bytes(b"x" * 64)
    for days in range(1, 5):  # newer than the limit, more than keep-last: the old one is due
        (storage / ((now - timedelta(days=days)).strftime("%Y%m%d") + ".tar.gz")).write_bytes(b"x" * 64)
    for folder in ("leases", "_vaultui", "_vaultui/runs"):
        (storage / folder).mkdir()
        (storage / folder).chmod(0o777)
    (storage / unreadable).chmod(0o000)
    storage.chmod(0o555)  # readable and listable, not writable
    env = {"VAULTUI_STORAGE": str(storage)}
    uid = f"(uid {os.geteuid()})"

    purged = run_without_override("--headless", "purge", env=env)
    said = purged.stdout + purged.stderr
    assert purged.returncode == ExitCode.STORAGE, said
    assert f"no permission to delete {storage / unreadable}" in said, said
    assert f"{uid} write access to the folder holding it" in said, said

    # (verify after purge: the fake archives fail it, and the old one would then be the newest restorable)
    verified = run_without_override("--headless", "verify", "--all", env=env)
    said = verified.stdout + verified.stderr
    assert f"no permission to read {storage / unreadable}" in said and f"{uid} read access to it" in said, said
    assert "write access" not in said

    backup = run_without_override("--headless", "backup", env={**env, "VAULTUI_MONGO_URI": "mongodb://127.0.0.1:9/"})
    said = backup.stdout + backup.stderr
    assert backup.returncode != 0 and "no permission to write" in said and "write access to its folder" in said, said

    storage.chmod(0o311)  # searchable, not readable: the listing itself is denied
    listed = run_without_override("--headless", "list", env=env)
    said = listed.stdout + listed.stderr
    assert listed.returncode == ExitCode.STORAGE, said
    assert "no permission to list" in said and "read and search (r-x) access to the folder" in said, said
