"""Archives crafted to exhaust memory or time: a metadata.json or a tar header that unpacks to 1 GiB, a
hundred thousand directory entries, an archive unpacking past its ceiling. Each is refused by name, and the
peak RSS of the `vaultui` process that reads it is measured (os.wait4) against the restore sidecar's budget.
A bomb as the newest archive does not stop `restore --latest` from taking the next one."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import bson
import pytest

from tests.helpers import EXERCISED, VAULTUI, files_tar_gz, run_measured

RSS_BUDGET_MB = 300  # the restore-at-start sidecar's memory limit is 512 Mi: this leaves room
GIB = 1 << 30
_ZEROS_MIB = gzip.compress(bytes(1 << 20), compresslevel=9)  # one gzip member: 1 MiB of zeros in ~1 KB


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def bomb(path: Path, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> None:
    """A .tar.gz whose one member claims and really holds `size` zero bytes (gzip members concatenated: a
    1 GiB member is ~1 MB on disk), then the end of the tar."""
    with path.open("wb") as out:
        out.write(gzip.compress(header(name, size, kind)))
        for _ in range(size >> 20):
            out.write(_ZEROS_MIB)
        out.write(gzip.compress(bytes(-size % 512 + 1024)))


def many_entries(path: Path, day: str, count: int) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as packed:
        for number in range(count):
            packed.write(header(f"{day}/d{number}/", 0, tarfile.DIRTYPE))
        document = bson.encode({"_id": 1})
        packed.write(header(f"{day}/shop/orders.bson", len(document)) + document + bytes(-len(document) % 512))
        packed.write(bytes(1024))
    path.write_bytes(buffer.getvalue())


def run_vaultui_measured(*arguments: str, env: dict[str, str]) -> tuple[int, str, float]:
    """(exit code, output, peak RSS in MB) of one `vaultui` process, measured from a small launcher."""
    done, _, peak = run_measured([VAULTUI, *arguments], env)
    return done.returncode, done.stdout + done.stderr, peak


GOOD_DAY = "20260930"


def good_archive(folder: Path) -> None:
    documents = b"".join(bson.encode({"_id": number}) for number in range(10))
    (folder / f"{GOOD_DAY}.tar.gz").write_bytes(
        files_tar_gz(
            {f"{GOOD_DAY}/shop/orders.bson": documents, f"{GOOD_DAY}/shop/orders.metadata.json": b'{"options":{}}'}
        )
    )


CASES = {
    "metadata.json of 1 GiB": (lambda path: bomb(path, "20261001/shop/orders.metadata.json", GIB), "metadata.json"),
    "PAX header of 1 GiB": (lambda path: bomb(path, "20261001/pax", GIB, tarfile.XHDTYPE), "PAX header"),
    "long-name header of 1 GiB": (lambda path: bomb(path, "20261001/long", GIB, tarfile.GNUTYPE_LONGNAME), "long-name"),
    "100,000 directory entries": (lambda path: many_entries(path, "20261001", 100_000), ""),
    "unpacks past the ceiling": (
        lambda path: bomb(path, "20261001/shop/notes.txt", 64 << 20),
        "VAULTUI_MAX_UNPACKED_GIB",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bombs_are_refused_within_the_memory_budget(case: str, tmp_path: Path) -> None:
    make, named = CASES[case]
    make(tmp_path / "20261001.tar.gz")
    env = {"VAULTUI_STORAGE": str(tmp_path)}
    if "ceiling" in case:
        env["VAULTUI_MAX_UNPACKED_GIB"] = "0.03"  # 30 MiB
    code, output, peak = run_vaultui_measured("--headless", "verify", "20261001.tar.gz", env=env)
    assert peak < RSS_BUDGET_MB, f"{case}: peak RSS {peak:.0f} MB"
    if named:
        assert code == 6, output
        assert named in output and "past the limit" in output, output
    else:  # many entries are legal: read in bounded memory, and the one collection is there
        assert code == 0, output
    EXERCISED.append(f"hostile input {case!r}: verify exit {code}, peak RSS {peak:.0f} MB")


def test_a_bomb_as_the_newest_archive_does_not_stop_restore_latest(tmp_path: Path, mongo_uri: str) -> None:
    good_archive(tmp_path)
    bomb(tmp_path / "20261001.tar.gz", "20261001/shop/orders.metadata.json", GIB)
    env = {"VAULTUI_STORAGE": str(tmp_path), "VAULTUI_TARGET_URI": mongo_uri}
    code, output, peak = run_vaultui_measured(
        "--headless", "restore", "--latest", "--ns-from", "shop.*", "--ns-to", f"bomb_{tmp_path.name[-8:]}.*", env=env
    )
    assert code == 0, output
    assert "20261001.tar.gz was skipped: failed verification" in output and f"restored {GOOD_DAY}" in output
    assert peak < RSS_BUDGET_MB
