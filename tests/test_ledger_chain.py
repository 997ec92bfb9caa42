"""The ledger is evidence: records are chained (each names the one before it and its hash) and, with a key,
signed; `verify --ledger` finds a deleted, an altered and a forged record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.ledger import RunRecord, check_ledger, record_run, run_keys
from engine.storage import open_storage
from tests.helpers import run_vaultui
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
