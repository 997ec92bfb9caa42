"""Any byte in any name: file names in a folder storage that are not UTF-8 (or hold control characters), and tar
members of an old-pipeline archive spelled with arbitrary bytes, go through every command that reads a storage
(`list`, `status --json`, `verify --all`, `purge --dry-run`, `restore --dry-run`) and the dashboard's archive
table. Each must end with its ordinary exit code (never 70, an internal error), keep JSON valid UTF-8, name the
odd object escaped, and go on with the rest."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import bson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import settle
from vaultui import cli
from vaultui.exit_codes import ExitCode


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


ODD = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# One path component a POSIX file system accepts: any bytes but '/' and NUL, not '.' or '..'.
COMPONENT = st.binary(min_size=1, max_size=40).map(lambda raw: raw.replace(b"/", b"\xff").replace(b"\0", b"\xfe"))
COMPONENT = COMPONENT.filter(lambda raw: raw not in (b".", b".."))
# Names inside an archive: bytes that are not UTF-8 (which never reach a server), or what the bed's FerretDB
# accepts in a name of a database ([A-Za-z0-9_-]; real MongoDB takes more, see tests/test_collection_names.py).
MEMBER_NAME = st.one_of(
    COMPONENT.filter(lambda raw: not _decodes(raw)),
    st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True).map(str.encode),
)
# Where an odd file can lie: beside the archives, among ledger records, leases and oplog chunks.
PLACES = st.sampled_from([b"", b"_vaultui/runs/", b"leases/shared/", b"oplog/"])


def documents(count: int) -> bytes:
    return b"".join(bson.encode({"_id": index, "name": "café"}) for index in range(count))


def legacy_archive(stamp: str, members: dict[str, bytes]) -> bytes:
    """An old-pipeline YYYYMMDD.tar.gz; member names may carry any bytes (kept by tar as written)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{stamp}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# What a metadata.json may hold: any bytes (not UTF-8, not JSON), or JSON whose strings carry odd characters.
METADATA = st.one_of(
    st.binary(max_size=80),
    st.dictionaries(
        st.sampled_from(["options", "indexes", "uuid", "collectionName", "type"]),
        st.one_of(
            st.text(max_size=12), st.lists(st.dictionaries(st.text(max_size=6), st.text(max_size=6)), max_size=2)
        ),
        max_size=4,
    ).map(lambda value: json.dumps(value).encode()),
)


def odd_storage(
    folder: Path, file_name: bytes, place: bytes, database: bytes, collection: bytes, metadata: bytes = b"{}"
) -> None:
    """A good old-pipeline archive, one whose member names (and one metadata file) hold the odd bytes, and an
    odd file."""
    folder.mkdir(parents=True)
    (folder / "20261201.tar.gz").write_bytes(
        legacy_archive("20261201", {"shop/orders.bson": documents(3), "shop/orders.metadata.json": b"{}"})
    )
    surrogates = (database.decode("utf-8", "surrogateescape"), collection.decode("utf-8", "surrogateescape"))
    odd_members = {
        f"{surrogates[0]}/{surrogates[1]}.bson": documents(2),
        f"{surrogates[0]}/{surrogates[1]}.metadata.json": metadata,
        "shop/kept.bson": documents(1),
        "shop/kept.metadata.json": b"{}",
    }
    (folder / "20261130.tar.gz").write_bytes(legacy_archive("20261130", odd_members))
    target = os.fsencode(folder) + b"/" + place + file_name
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as out:
        out.write(b"{}")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@ODD
@given(file_name=COMPONENT, place=PLACES, database=MEMBER_NAME, collection=MEMBER_NAME, metadata=METADATA)
def test_every_command_survives_any_bytes_in_names(
    file_name: bytes,
    place: bytes,
    database: bytes,
    collection: bytes,
    metadata: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mongo_uri: str,
) -> None:
    folder = tmp_path_factory.mktemp("odd") / "backups"
    odd_storage(folder, file_name, place, database, collection, metadata)
    monkeypatch.setenv("VAULTUI_STORAGE", str(folder))
    monkeypatch.setenv("VAULTUI_TARGET_URI", mongo_uri)
    storage = ["--headless"]

    code, out, _ = run([*storage, "list", "--json"], capsys)
    listed = json.loads(out.encode("utf-8"))  # valid UTF-8 and valid JSON
    assert code == ExitCode.OK and {item["name"] for item in listed} >= {"20261201.tar.gz", "20261130.tar.gz"}

    code, out, err = run([*storage, "status", "--json"], capsys)
    status = json.loads(out.encode("utf-8"))
    assert code in (ExitCode.OK, ExitCode.COMPLIANCE_BELOW_TARGET), err
    undecodable = not _decodes(place + file_name) and not file_name.startswith(b".")  # hidden: never listed
    if undecodable:  # named once, escaped, with what was done with it
        assert any("not valid UTF-8" in line and "\\x" in line for line in status["broken"]), status["broken"]

    code, out, err = run([*storage, "verify", "--all", "--json"], capsys)
    reports = {report["archive"]: report for report in json.loads(out.encode("utf-8"))}
    assert code in (ExitCode.OK, ExitCode.VERIFICATION_FAILED), err
    assert reports["20261201.tar.gz"]["ok"]
    odd = reports["20261130.tar.gz"]
    if odd["ok"]:
        assert odd["documents"] >= 1  # shop.kept restores whatever the other member is named
        if not _decodes(database) or not _decodes(collection):
            assert any("\\x" in item for item in odd["not_restored"]), odd
    else:  # only its metadata file can fail it (as mongorestore refuses one it cannot parse), and it is named
        assert metadata != b"{}" and any(".metadata.json" in problem for problem in odd["problems"]), odd

    code, out, err = run([*storage, "purge", "--dry-run", "--json"], capsys)
    assert code == ExitCode.OK, err
    json.loads(out.encode("utf-8"))

    for chosen in (["--archive", "20261130.tar.gz"], ["--date", "2026-11-30"]):  # by name, and by date
        code, out, err = run([*storage, "restore", *chosen, "--dry-run"], capsys)
        allowed = (ExitCode.OK, ExitCode.VERIFICATION_FAILED) if metadata != b"{}" else (ExitCode.OK,)
        assert code in allowed, err  # only a metadata file past reading may fail it
        assert "internal error" not in err
        assert err.count("its name is not valid UTF-8") <= 1  # named once where a listing met it, never again
    code, out, err = run([*storage, "verify", "--all"], capsys)
    assert code in (ExitCode.OK, ExitCode.VERIFICATION_FAILED), err
    if undecodable and not place:  # beside the archives, which verify --all lists
        assert err.count("its name is not valid UTF-8") == 1 and "\\x" in err


async def test_the_dashboard_lists_archives_beside_undecodable_names(tmp_path: Path) -> None:
    """The archive table fills and the status loads with odd bytes in file and member names beside the
    archives; the odd file is among what the status skipped, escaped."""
    from vaultui.app import make_app
    from vaultui.settings import AppSettings

    folder = tmp_path / "backups"
    odd_storage(folder, b"\xff\x1b[31m.tar.zst", b"", b"caf\xe9", b"\xfe\n")
    app = make_app(AppSettings(storage_url=str(folder), refresh_seconds=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert [entry.name for entry in app.screen.shown_entries] == ["20261201.tar.gz", "20261130.tar.gz"]
        assert app.summary is not None
        assert any(line.startswith("\\xff\\x1b[31m.tar.zst:") for line in app.summary.broken), app.summary.broken


ODD_KEYS = ["\x1b[31m.tar.zst", "20261129\u202e.tar.gz", "_vaultui/runs/\x07bell.json", "é\u2028.json"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_in_an_s3_storage(key: str, s3_server, s3_client, s3_bucket, capsys, monkeypatch) -> None:  # noqa: ANN001
    """S3 keys are UTF-8 but may hold control characters, line breaks and direction overrides (which would
    reorder a terminal line): beside a good old-pipeline archive, every reading command keeps its exit code,
    its JSON stays valid, and the odd key is never printed raw."""
    s3_client.put_object(
        Bucket=s3_bucket, Key="odd/20261201.tar.gz",
        Body=legacy_archive("20261201", {"shop/orders.bson": documents(3), "shop/orders.metadata.json": b"{}"}),
    )  # fmt: skip
    s3_client.put_object(Bucket=s3_bucket, Key=f"odd/{key}", Body=b"{}")
    monkeypatch.setenv("VAULTUI_STORAGE", f"s3://{s3_bucket}/odd?endpoint={s3_server.url}")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, s3_server.extra[name])
    code, out, _ = run(["--headless", "list", "--json"], capsys)
    assert code == ExitCode.OK and [item["name"] for item in json.loads(out)] == ["20261201.tar.gz"]
    code, out, err = run(["--headless", "status", "--json"], capsys)
    assert code in (ExitCode.OK, ExitCode.COMPLIANCE_BELOW_TARGET), err
    json.loads(out)
    for argv in (["verify", "--all"], ["purge", "--dry-run"], ["status"], ["list"]):
        code, out, err = run(["--headless", *argv], capsys)
        assert code in (ExitCode.OK, ExitCode.COMPLIANCE_BELOW_TARGET, ExitCode.VERIFICATION_FAILED), err
        assert "internal error" not in err
        odd = [char for char in key if not char.isprintable()] + ["\u202e"] * ("\u202e" in key)
        assert not any(char in out + err for char in odd), (argv, out, err)
