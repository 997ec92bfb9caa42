"""gzip through ISA-L (engine.archive.gzip_codec): what it writes stays plain gzip for `gzip -d` and `tar xz`,
it reads what gzip(1) and the old pipeline wrote (several members too), a damaged stream is an error the
verify path knows, and without the isal wheel the standard library does the same work."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.archive import gzip_codec
from engine.archive.format import add_member, open_compressor, open_decompressor, tar_writer
from engine.evidence.verify import read_errors

PAYLOAD = b"".join(b"order %d: caf\xc3\xa9 \xe2\x82\xac %d\n" % (n, n * 7) for n in range(200_000))


def test_isal_is_the_backend_where_its_wheel_is_installed() -> None:
    assert gzip_codec.backend() == "isal"  # a dependency of the package: the suite runs with it


def _tar_gz(tmp_path: Path) -> Path:
    archive = tmp_path / "20261125T000000Z.tar.gz"
    with archive.open("wb") as raw, open_compressor("gzip", raw) as compressed, tar_writer(compressed) as tar:
        add_member(tar, "20261125T000000Z/shop/orders.bson", io.BytesIO(PAYLOAD), len(PAYLOAD), datetime.now(UTC))
    return archive


def test_what_it_writes_is_read_by_gzip_and_tar(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path)
    subprocess.run(["gzip", "-t", str(archive)], check=True)
    listed = subprocess.run(["tar", "tzf", str(archive)], check=True, capture_output=True, text=True)
    assert listed.stdout.split() == ["20261125T000000Z/shop/orders.bson"]
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(out)], check=True)
    assert (out / "20261125T000000Z/shop/orders.bson").read_bytes() == PAYLOAD
    unzipped = subprocess.run(["gzip", "-dc", str(archive)], check=True, capture_output=True).stdout
    assert tarfile.open(fileobj=io.BytesIO(unzipped)).extractfile("20261125T000000Z/shop/orders.bson").read() == PAYLOAD  # type: ignore[union-attr]


def test_it_reads_gzip1_output_of_several_members(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(PAYLOAD[:1000])
    second.write_bytes(PAYLOAD[1000:])
    joined = subprocess.run(["gzip", "-6", "-c", str(first)], check=True, capture_output=True).stdout
    joined += subprocess.run(["gzip", "-1", "-c", str(second)], check=True, capture_output=True).stdout
    with open_decompressor("gzip", io.BytesIO(joined)) as plain:
        assert plain.read() == PAYLOAD


class ReadOnly:
    """A stream with `read` only, as the hashing, bounding and decrypting readers are."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def test_a_stream_without_readinto_is_read() -> None:
    with open_decompressor("gzip", ReadOnly(gzip.compress(PAYLOAD))) as plain:  # type: ignore[arg-type]
        assert plain.read() == PAYLOAD


@pytest.mark.parametrize("damage", ["flipped byte", "cut short", "bad trailer"])
def test_damage_raises_an_error_verify_reports(damage: str) -> None:
    data = bytearray(gzip.compress(PAYLOAD))
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0xFF
    elif damage == "cut short":
        del data[len(data) // 2 :]
    else:
        data[-6] ^= 0x01  # the CRC
    with pytest.raises(read_errors()), open_decompressor("gzip", io.BytesIO(bytes(data))) as plain:
        while plain.read(1 << 16):
            pass


def test_without_the_wheel_the_standard_library_reads_and_writes_the_same(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path)
    script = f"""
import sys
sys.modules["isal"] = None  # as if the wheel were missing
import io
from engine.archive import gzip_codec
from engine.archive.format import open_compressor, open_decompressor
assert gzip_codec.backend() == "zlib", gzip_codec.backend()
with open({str(archive)!r}, "rb") as raw, open_decompressor("gzip", raw) as plain:
    tar_bytes = plain.read()
written = io.BytesIO()
with open_compressor("gzip", written) as out:
    out.write(tar_bytes)
sys.stdout.buffer.write(written.getvalue())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, cwd=Path(__file__).parent.parent
    )
    assert gzip.decompress(done.stdout) == gzip.decompress(archive.read_bytes())
