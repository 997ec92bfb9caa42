"""Where the CLI meets the shell: a closed pipe, a backup with a setting missing, each command's own help."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.evidence.ledger import list_runs
from engine.storage import open_storage
from tests.helpers import VAULTUI, run_vaultui
from vaultui.exit_codes import ExitCode


def test_a_closed_pipe_ends_quietly(backups: Path, tmp_path: Path) -> None:
    """`vaultui --headless list | head -1` over many archives: the reader goes away, vaultui exits without an
    "internal error", a traceback or a crash report."""
    now = datetime.now(UTC)
    for day in range(4000):  # ~300 KB of lines: far more than a pipe buffers, so the writer meets the close
        (backups / ((now - timedelta(days=day)).strftime("%Y%m%d") + ".tar.gz")).write_bytes(b"x")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("VAULTUI_")}
    (tmp_path / "tmp").mkdir()  # where a crash's traceback file would go
    environment.update(VAULTUI_STORAGE=str(backups), TMPDIR=str(tmp_path / "tmp"))
    reader, writer = os.pipe()
    with subprocess.Popen(
        [VAULTUI, "--headless", "list"], stdout=writer, stderr=subprocess.PIPE, env=environment
    ) as listing:
        os.close(writer)
        with os.fdopen(reader, "rb") as pipe:
            assert pipe.readline().startswith(b"ARCHIVE")  # one line read, then the pipe is closed, as head does
        _, err = listing.communicate(timeout=60)
    assert b"internal error" not in err and b"Traceback" not in err and b"report it" not in err, err
    assert listing.returncode in (0, 141, -13, ExitCode.OK), listing.returncode
    assert not list((tmp_path / "tmp").glob("vaultui-traceback-*"))


def test_a_backup_without_its_source_fails_before_it_starts(backups: Path) -> None:
    """No VAULTUI_MONGO_URI: one line naming the setting, no "backup.started" event, and no ledger failure
    naming an archive that never existed."""
    done = run_vaultui("--headless", "backup", env={"VAULTUI_STORAGE": str(backups)})
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert "backup.started" not in done.stderr and "VAULTUI_MONGO_URI" in done.stderr, done.stderr
    assert list_runs(open_storage(str(backups))) == []


@pytest.mark.parametrize("command", ["backup", "restore", "verify", "purge", "status", "list", "report", "drill"])
def test_each_command_s_help_names_the_way_it_is_run(command: str) -> None:
    """`vaultui --headless verify --help` says `usage: vaultui --headless verify`, as it must be typed."""
    done = run_vaultui("--headless", command, "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: vaultui --headless {command}"), done.stdout
