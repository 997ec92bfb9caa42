"""The ledger is evidence: records are chained (each names the one before it and its hash) and, with a key,
signed; `verify --ledger` finds a deleted, an altered and a forged record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.evidence import ledger_cache
from engine.evidence.ledger import RunRecord, check_ledger, list_runs, read_raw, record_run, run_keys
from engine.sla import status
from engine.sla.status import summarize
from engine.storage import open_storage
from tests.helpers import run_vaultui
from tests.history import record
from vaultui.exit_codes import ExitCode

KEY = "s3cret-ledger-key"


def history(folder: Path, monkeypatch: pytest.MonkeyPatch, count: int = 5) -> list[str]:
    monkeypatch.setenv("VAULTUI_LEDGER_KEY", KEY)
    storage = open_storage(str(folder))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for night in range(count):
        moment = (start + timedelta(days=night)).isoformat()
        record_run(storage, RunRecord("backup", moment, moment, "success", archive=f"a{night}"))
    return run_keys(storage)


def verify_ledger(folder: Path) -> tuple[int, str]:
    done = run_vaultui(
        "--headless", "verify", "--ledger", env={"VAULTUI_STORAGE": str(folder), "VAULTUI_LEDGER_KEY": KEY}
    )
    return done.returncode, done.stdout


def test_an_untouched_ledger_is_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    history(tmp_path, monkeypatch)
    code, out = verify_ledger(tmp_path)
    assert code == 0 and "ledger intact: 5 records checked (chain and signatures)" in out


def test_a_deleted_record_breaks_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = history(tmp_path, monkeypatch)
    (tmp_path / keys[2]).unlink()
    code, out = verify_ledger(tmp_path)
    assert code == ExitCode.VERIFICATION_FAILED and "which is gone: a record was deleted" in out


def test_an_altered_record_breaks_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = history(tmp_path, monkeypatch)
    path = tmp_path / keys[3]
    data = json.loads(path.read_text())
    data["result"] = "failure"
    path.write_text(json.dumps(data))
    code, out = verify_ledger(tmp_path)
    assert code == ExitCode.VERIFICATION_FAILED
    assert "not signed with the ledger key" in out and "was changed after" in out


def test_forged_records_do_not_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """31 records written without the key (the forgery the compliance figure used to believe)."""
    history(tmp_path, monkeypatch, count=2)
    monkeypatch.delenv("VAULTUI_LEDGER_KEY")
    storage = open_storage(str(tmp_path))
    for night in range(31):
        moment = (datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=night)).isoformat()
        record_run(storage, RunRecord("backup", moment, moment, "success", archive=f"forged{night}"))
    check = check_ledger(storage, key=KEY.encode())
    assert not check.intact and sum("forged or altered" in problem for problem in check.problems) == 31


def test_runs_of_one_second_list_in_the_order_they_were_written(tmp_path: Path) -> None:
    """Times are kept to the second, so a failed backup and the one that followed it can share a start second:
    "newest first" must still be the order the records were written, whatever their kinds or ids (a status
    showing the earlier failure as the latest run would be wrong)."""
    storage = open_storage(str(tmp_path))
    moment = datetime(2026, 11, 1, 2, 0, 5, tzinfo=UTC).isoformat()
    written = []
    for number, (kind, result) in enumerate([("verify", "success"), ("backup", "failure"), ("backup", "success")]):
        record = RunRecord(kind, moment, moment, result, archive=f"a{number}")
        record.id = f"{9 - number}" * 12  # ids that would sort the other way
        written.append(record_run(storage, record).archive)
    assert [run.archive for run in list_runs(storage)] == list(reversed(written))
    assert next(run for run in list_runs(storage, "backup")).result == "success"


def test_status_keeps_a_local_copy_of_records_and_reads_again_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger cache: a second status reads no record from the storage; a record whose size or write time
    changed is read again (so an edit is seen); a corrupt copy is ignored."""
    folder = tmp_path / "backups"
    folder.mkdir()
    storage = open_storage(str(folder))
    now = datetime.now(UTC).replace(microsecond=0)
    for days in range(1, 6):
        record_run(storage, record("backup", now - timedelta(days=days), "success"))
    summarize(storage, now)  # fills the local copy
    reads: list[list[str]] = []

    def counting(storage, keys):  # noqa: ANN001, ANN202 - read_raw, counted
        reads.append(list(keys))
        return read_raw(storage, keys)

    monkeypatch.setattr(status, "read_raw", counting)
    summarize(storage, now)
    assert reads == []  # every record from the local copy
    newest = sorted(folder.glob("_vaultui/runs/*.json"))[-1]
    newest.write_text(newest.read_text().replace('"success"', '"failure"', 1))  # edited in the storage
    summary = summarize(storage, now)
    assert [Path(key).name for key in reads[0]] == [newest.name]  # only the changed one is read again
    assert summary.ledger is not None and not summary.ledger.intact  # and the edit is seen
    ledger_cache.cache_path(storage.url).write_bytes(b"\x00not msgpack")
    reads.clear()
    summarize(storage, now)
    assert len(reads[0]) == 5  # a corrupt copy: every record from the storage again
