"""Shared test helpers: sample data, raw document comparison, running the real `vaultui` command."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import uuid
from pathlib import Path

import pymongo
import pytest
from bson import Binary, Int64, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection

VAULTUI = str(Path(sys.executable).with_name("vaultui"))


def sample_document(index: int) -> dict:
    """A document with most BSON types FerretDB 1.24 stores (it lacks Decimal128, NaN and MinKey/MaxKey)."""
    return {
        "_id": ObjectId(f"{index:024x}"),
        "number": index,
        "big": Int64(2**40 + index),
        "ratio": index / 7,
        "name": f"user-{index} é✓",
        "created": datetime.datetime(2026, 1, 1) + datetime.timedelta(minutes=index),
        "flags": [index % 2 == 0, None],
        "blob": Binary(index.to_bytes(4, "little"), 0),
        "uuid": Binary(uuid.UUID(int=index).bytes, 4),
        "pattern": Regex("^user", "i"),
        "stamp": Timestamp(1_700_000_000 + index, 1),
        "nested": {"level": index % 5, "tags": ["a", "b", {"deep": index}]},
    }


def seed(client: pymongo.MongoClient, database: str, counts: dict[str, int]) -> None:
    """Fills `database` with `counts[collection]` sample documents each, and one secondary index each."""
    for collection, count in counts.items():
        target = client[database][collection]
        for start in range(0, count, 5000):
            target.insert_many([sample_document(index) for index in range(start, min(count, start + 5000))])
        target.create_index([("number", 1)], name="number_1")


def raw_documents(collection: Collection) -> list[bytes]:
    """Every document's exact bytes, sorted by _id."""
    raw = collection.with_options(codec_options=CodecOptions(document_class=RawBSONDocument))
    return [document.raw for document in raw.find({}, sort=[("_id", 1)])]


def run_vaultui(
    *arguments: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Runs the installed `vaultui` command, as a CronJob would, and returns what it did."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VAULTUI_")}
    environment.update(env or {})
    return subprocess.run(
        [VAULTUI, *arguments], capture_output=True, text=True, env=environment, timeout=timeout, check=False
    )


def index_definitions(collection: Collection) -> dict[str, dict]:
    """Index name → definition, without the fields a server fills in for itself (v, ns)."""
    return {
        name: {key: value for key, value in spec.items() if key not in ("v", "ns")}
        for name, spec in collection.index_information().items()
    }


def steady_cursors(app) -> None:  # noqa: ANN001 - a Textual App
    """Input cursors blink every 0.5 s, so a screenshot taken after a slow settle (a busy machine) caught one
    hidden that an idle run showed. Every input's cursor is made steady, shown as a focused one first is."""
    from textual.widgets import Input

    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
            field._cursor_visible = True  # noqa: SLF001 - Textual has no public switch for a steady cursor
            field.refresh()


async def settle(app, pilot, timeout: float = 60) -> None:  # noqa: ANN001 - a Textual App and its Pilot
    """Until the app declares itself settled (first load done, no worker pending or running, every screen's
    data shown, every table laid out): a state, not a guess at time. The deadline only turns a hang into a
    clear failure."""
    import time

    from textual.worker import WorkerCancelled

    deadline = time.monotonic() + timeout
    while True:
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive newer worker replaced it: that one is waited for next
            pass
        await pilot.pause()
        if app.settled():
            await pilot.wait_for_scheduled_animations()
            if app.settled():
                steady_cursors(app)
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not settle within {timeout:.0f} s")


def old_pipeline_archive(mongo_uri: str, database: str, mongodump: Path, folder: Path, day: str) -> Path:
    """What the old CronJob did: mongodump --out /tmp/YYYYMMDD, then tar czf /backup/YYYYMMDD.tar.gz."""
    work = folder.parent / f"work-{day}"
    subprocess.run(
        [str(mongodump), f"--uri={mongo_uri}", f"--db={database}", f"--out={work / day}"],
        check=True,
        capture_output=True,
    )
    archive = folder / f"{day}.tar.gz"
    subprocess.run(["tar", "czf", str(archive), "-C", str(work), day], check=True)
    return archive


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A gzipped tar of exactly these members (any type, duplicates allowed): for crafted archives."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def files_tar_gz(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of plain files, path -> content."""
    return tar_gz([(tarfile.TarInfo(path), data) for path, data in files.items()])


# Kill points and injected faults exercised this session, one line per scenario (printed at the end).
EXERCISED: list[str] = []


# A small launcher that runs a command and reports its CPU and peak RSS: a child forked straight from a big
# process (pytest, a benchmark) would count that process's pages in its peak RSS (ru_maxrss covers the time
# between fork and exec), however little the command itself uses.
_USAGE_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(
    command: list[str], env: dict[str, str] | None = None, *, timeout: float = 3600
) -> tuple[subprocess.CompletedProcess, float, float]:
    """(the finished process, its CPU seconds, its peak RSS in MB); `env` on top of ours, less VAULTUI_*."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VAULTUI_")}
    environment.update(env or {})
    with tempfile.NamedTemporaryFile("r", suffix=".usage") as report:
        done = subprocess.run(
            [sys.executable, "-c", _USAGE_LAUNCHER, report.name, *command],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
        usage = json.loads(report.read() or '{"cpu": 0, "rss_kib": 0}')
    return done, usage["cpu"], usage["rss_kib"] / 1024


def storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest, prefix: str = "nightly") -> str:
    """A fresh storage of the kind: a folder, or a prefix of a new bucket on the bed's S3 (its env set)."""
    if kind == "folder":
        folder = tmp_path / "backups"
        folder.mkdir()
        return str(folder)
    bucket = request.getfixturevalue("s3_bucket")
    request.getfixturevalue("s3_env")
    return f"s3://{bucket}/{prefix}"


def s3_user(server_url: str, name: str, statements: list[dict]) -> dict[str, str]:
    """An IAM user of the bed's S3 (moto, which checks signatures and policies) holding `statements`, as the
    standard AWS variables. The bed's own user may not create users: moto's reset-auth lets the next three
    calls (the user, its policy, its key) through unsigned."""
    import boto3

    reset = urllib.request.Request(
        f"{server_url}/moto-api/reset-auth", data=b"3", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(reset, timeout=10).close()
    iam = boto3.client(
        "iam", endpoint_url=server_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    user = f"vaultui-{name}-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": server_url,
    }


async def wait_for(pilot, condition, timeout: float = 60) -> None:  # noqa: ANN001 - a Textual Pilot, a callable
    """Until `condition()` holds, yielding to the app between looks: a state, not a time."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        await pilot.pause(0.05)
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f} s: {condition}")
