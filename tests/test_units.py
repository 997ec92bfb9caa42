"""Pure pieces: archive names, storage URLs, BSON framing, secret redaction, and the engine's independence."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime

import bson
import pytest

from engine.archive.bson_check import count_documents
from engine.archive.format import archive_name, iter_bson, parse_archive_name
from engine.common.errors import ConfigError, VerificationError
from engine.common.redact import redact_uri, scrub
from engine.storage import FolderStorage, open_storage
from engine.storage.s3 import S3Storage


def test_archive_names_sort_in_time_order_and_parse_back() -> None:
    moment = datetime(2026, 11, 25, 0, 0, 12, tzinfo=UTC)
    assert archive_name(moment, "gzip") == "20261125T000012Z.tar.gz"
    assert archive_name(moment, "zstd") == "20261125T000012Z.tar.zst"
    ref = parse_archive_name("20261125T000012Z.tar.zst")
    assert ref is not None and (ref.time, ref.codec, ref.legacy, ref.stamp) == (
        moment,
        "zstd",
        False,
        "20261125T000012Z",
    )
    legacy = parse_archive_name("20261124.tar.gz")
    assert legacy is not None and legacy.legacy and legacy.time == datetime(2026, 11, 24, tzinfo=UTC)
    for not_archive in ("20261125T000012Z.tar.gz.manifest.json", "20261399.tar.gz", "backup.tar.gz", "_vaultui/x"):
        assert parse_archive_name(not_archive) is None
    with pytest.raises(ConfigError, match="unknown codec 'bz2'"):
        archive_name(moment, "bz2")


def test_storage_urls() -> None:
    assert isinstance(open_storage("/backup"), FolderStorage)
    assert isinstance(open_storage("file:///backup"), FolderStorage)
    s3 = open_storage("s3://my-bucket/nightly/db?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true")
    assert isinstance(s3, S3Storage) and s3.prefix == "nightly/db/" and s3.bucket == "my-bucket"
    assert s3.url == "s3://my-bucket/nightly/db/ at http://127.0.0.1:9000"
    for bad in ("", "http://x/y", "s3://", "s3://b/x?colour=red", "file://remotehost/x"):
        with pytest.raises(ConfigError):
            open_storage(bad)


def test_bson_framing_is_checked_without_decoding() -> None:
    documents = [bson.encode({"_id": index, "text": "x" * index}) for index in range(2500)]
    stream = b"".join(documents)
    assert count_documents(stream) == 2500
    batches = list(iter_bson(io.BytesIO(stream), "t"))
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert b"".join(b"".join(batch) for batch in batches) == stream
    with pytest.raises(VerificationError, match="truncated"):
        list(iter_bson(io.BytesIO(stream[:-3]), "t"))
    with pytest.raises(VerificationError, match="impossible length"):
        list(iter_bson(io.BytesIO(b"\x02\x00\x00\x00"), "t"))
    broken = bytearray(documents[0])
    broken[-1] = 1
    with pytest.raises(VerificationError, match="malformed"):
        list(iter_bson(io.BytesIO(bytes(broken)), "t"))


def test_secrets_never_survive_redaction() -> None:
    uri = "mongodb://admin:p%40ss@db-0.db:27017/?authSource=admin"
    assert redact_uri(uri) == "mongodb://admin:***@db-0.db:27017/?authSource=admin"
    assert "p%40ss" not in scrub(f"failed to connect with {uri}", [uri])
    assert redact_uri("mongodb://db:27017/") == "mongodb://db:27017/"


def test_no_engine_module_imports_a_ui() -> None:
    """Every module of engine/, imported in a fresh interpreter, loads neither Textual nor Rich (import-linter
    checks the same statically in `make lint`; this catches an import made at run time too)."""
    code = (
        "import importlib, pkgutil, sys, engine\n"
        "names = [m.name for m in pkgutil.walk_packages(engine.__path__, 'engine.')]\n"
        "[importlib.import_module(name) for name in names]\n"
        "assert len(names) > 60, names\n"
        "sys.exit(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'vaultui'}) or 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize("host", ["[::1", "::1:27017", "[::1]:99999", "host:abc", "", "[zz::1]:1"])
def test_a_malformed_target_host_is_one_line_not_a_traceback(host: str) -> None:
    from engine.common.errors import ConfigError
    from engine.common.redact import with_host

    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        with_host("mongodb://u:p@db:27017/", host)
    assert with_host("mongodb://u:p@db:27017/?replicaSet=rs0", "[::1]:27017") == (
        "mongodb://u:p@[::1]:27017/?directConnection=true"
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 2),
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_compression_threads_follow_the_container_cpu_limit(tmp_path, files: dict, expected) -> None:  # noqa: ANN001
    """cgroup v2 cpu.max or v1's CFS quota cap the threads; without a limit, the process's CPU affinity."""
    import os

    from engine.common.cpus import usable_cpus

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == (affinity if expected is None else min(affinity, expected))


class _Trickle:
    """A stream that hands out at most `step` bytes per read, as tar over a codec may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.position = data, step, 0

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


@pytest.mark.parametrize("step", [13, 4096, 1 << 20, 1 << 22])
def test_iter_bson_frames_across_any_read_boundary(step: int) -> None:
    """Documents of every size (one past the 1 MiB read, many tiny ones) come out whole, whatever the reads."""
    documents = [bson.encode({"n": n, "pad": "x" * (n * 37 % 300)}) for n in range(500)]
    documents.insert(250, bson.encode({"big": "y" * (3 << 20)}))  # larger than one read
    data = b"".join(documents)
    assert [doc for batch in iter_bson(_Trickle(data, step), "t") for doc in batch] == documents
    for cut in (len(data) - 1, len(data) - len(documents[-1]) + 2):  # inside the last document, its header
        with pytest.raises(VerificationError, match="truncated"):
            list(iter_bson(_Trickle(data[:cut], step), "t"))
