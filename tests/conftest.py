"""Session fixtures: the real test bed (FerretDB, mongo-tools, an S3 endpoint), started once and stopped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pymongo
import pytest
from hypothesis import settings

from tests.bed import servers
from tests.bed.kubernetes import Cluster, start_cluster

# Property tests: `make test` replays the same examples every run (a CI run is never the first to meet a new
# example); VAULTUI_HYPOTHESIS=explore draws new ones, ten times as many, for `make fuzz` and local runs.
settings.register_profile("ci", derandomize=True, max_examples=8)
settings.register_profile("explore", derandomize=False, max_examples=80, print_blob=True)
settings.load_profile(os.environ.get("VAULTUI_HYPOTHESIS", "ci"))

# The cluster tests need the bed's node, inside its network namespace: `make test-cluster` runs them.
collect_ignore = [] if os.environ.get("VAULTUI_NODE_NETNS") else ["cluster"]


@pytest.fixture(scope="session")
def bed_binaries() -> dict[str, Path]:
    return servers.binary_paths()


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """vaultui's local copies (the ledger cache) go to a folder of this session, for every process it starts."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def ferretdb(bed_binaries: dict[str, Path]) -> Iterator[servers.Server]:
    server = servers.start_ferretdb()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def replica() -> Iterator[servers.Server]:
    """A FerretDB of its own, with an oplog (kept apart: every write of other tests would land in it)."""
    server = servers.start_ferretdb()
    client: pymongo.MongoClient = pymongo.MongoClient(server.url)
    client.local.create_collection("oplog.rs", capped=True, size=256 * 1024 * 1024)
    client.close()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_uri(ferretdb: servers.Server) -> str:
    return ferretdb.url


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[pymongo.MongoClient]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def mongo_tools(bed_binaries: dict[str, Path]) -> dict[str, Path]:
    return {name: bed_binaries[name] for name in ("mongodump", "mongorestore", "bsondump")}


@pytest.fixture(scope="session")
def cluster(bed_binaries: dict[str, Path]) -> Iterator[Cluster]:
    """A real kube-apiserver (RBAC and admission on) with its etcd, shared by the Kubernetes test modules."""
    running = start_cluster()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[servers.Server]:
    server = servers.start_s3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: servers.Server) -> str:
    return s3_server.url


@pytest.fixture
def s3_env(s3_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Standard AWS variables pointing boto3 (in-process and in subprocesses) at the loopback endpoint."""
    variables = dict(s3_server.extra, AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_S3=s3_server.url)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def s3_client(s3_server: servers.Server):  # noqa: ANN201 - boto3 clients have no static type
    return boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id=s3_server.extra["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_server.extra["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def s3_bucket(s3_client) -> str:  # noqa: ANN001
    """A fresh, empty bucket for one test."""
    name = f"vaultui-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    """An empty backup folder (the PVC) for one test."""
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


@pytest.fixture
def database_name() -> str:
    """A database name no other test uses."""
    return f"t_{uuid.uuid4().hex[:10]}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the kill matrix exercised (tests/test_kill_matrix.py)."""
    from tests.helpers import EXERCISED

    if EXERCISED:
        terminalreporter.section("kill points and faults exercised")
        for line in EXERCISED:
            terminalreporter.write_line(line)
