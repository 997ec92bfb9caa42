"""End to end in a real terminal: `vaultui` runs in tmux, keys are sent, the screen is read back."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import VAULTUI
from tests.test_ui_snapshots import fixed_storage

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by .ci/run")


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *arguments: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *arguments], capture_output=True, text=True, check=False
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "vaultui")

    def wait_for(self, *texts: str, timeout: float = 60) -> str:
        """The screen once every one of `texts` is on it at the same time (the deadline only turns a hang
        into a clear failure)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if all(text in shown for text in texts):
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} never appeared together; the screen was:\n{self.screen()}")

    def wait_without(self, text: str, timeout: float = 60) -> str:
        """The screen once `text` has left it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text not in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never left the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "vaultui", *keys)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    folder = tmp_path / "backups"
    folder.mkdir()
    fixed_storage(folder)
    term = Terminal(f"vaultui-{uuid.uuid4().hex[:8]}")
    # COLUMNS/LINES from the test runner would pin the app to their size rather than the terminal's.
    command = (
        f"env -u COLUMNS -u LINES KUBECONFIG={tmp_path}/none {VAULTUI} --storage {folder} --refresh 0; "
        "echo vaultui-exited; sleep 30"
    )
    term.tmux("new-session", "-d", "-s", "vaultui", "-x", "80", "-y", "24", command)
    try:
        yield term
    finally:
        term.tmux("kill-server")


def test_keys_drive_the_dashboard_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    """At 80×24, as on call: the header leads with compliance; `:` navigation; the runs view; `/` filter; a
    hold placed with its reason; the purge view and `:archives` back; the restore form with its buttons on
    screen; q quits."""
    # The newest archive's row is the data the first load brings; the header and footer come before it.
    terminal.wait_for("20261125T000500Z.tar.zst", "compliance ", "Archive", "r Restore", "q Quit")
    terminal.keys(":")
    terminal.wait_for("archives, runs, compliance")
    terminal.keys("runs", "Enter")
    terminal.wait_for("cannot reach MongoDB", "Runs — ", "failure")
    terminal.keys("Escape")
    terminal.wait_for("r Restore")
    terminal.keys("/")
    # Textual routes a key to the widget focused when the key arrives: wait until the filter is on screen
    # (it takes the focus in the same step) before typing into it.
    terminal.wait_for("filter by date")
    terminal.keys("20261124")
    terminal.wait_without("20261125T000500Z.tar.zst")
    terminal.wait_for("20261124T000500Z.tar.zst ", "status: verified")
    terminal.keys("Enter")  # the filter is done: back to the table, the one archive selected
    terminal.keys("h")
    terminal.wait_for("reason?")
    terminal.keys("incident 42", "Enter")
    terminal.wait_for("status: held; retention: keep, held (incident 42)")
    assert (tmp_path / "backups" / "20261124T000500Z.tar.zst.hold.json").exists()
    terminal.keys("Escape")  # alone: an escape followed at once by a key reads as alt+key
    terminal.wait_for("20261123T000500Z.tar.zst")  # every row is back
    terminal.keys("p")
    terminal.wait_for("Purge plan", "a Apply purge")
    terminal.keys(":")
    terminal.wait_for("archives, runs, compliance")
    terminal.keys("archives", "Enter")
    terminal.wait_for("r Restore", "20261125T000500Z.tar.zst")
    terminal.keys("r")
    terminal.wait_for("Restore 2026", "Preview", "Restore…")  # the buttons fit 80×24
    terminal.keys("Escape")
    terminal.wait_for("r Restore")
    terminal.keys("q")
    terminal.wait_for("vaultui-exited")
