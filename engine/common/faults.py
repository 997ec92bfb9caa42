"""Named points where a run can be killed on purpose, for the kill-matrix tests only.

Inert unless a VAULTUI_TEST_* variable is set: `VAULTUI_TEST_POINTS_FILE` appends the name of every point
reached to that file (to count them); `VAULTUI_TEST_KILL_AT=N` sends SIGKILL to this process at the Nth point
reached (1-based), which no handler can catch — exactly what a node failure or the OOM killer does."""

from __future__ import annotations

import os
import signal
import threading

_KILL_AT = int(os.environ.get("VAULTUI_TEST_KILL_AT", "0") or 0)
_POINTS_FILE = os.environ.get("VAULTUI_TEST_POINTS_FILE", "")
_lock = threading.Lock()
_reached = 0


def checkpoint(name: str) -> None:
    """Marks a point where a crash must leave things safe (called between steps, from any thread)."""
    if not (_KILL_AT or _POINTS_FILE):
        return
    global _reached
    with _lock:
        _reached += 1
        if _POINTS_FILE:
            with open(_POINTS_FILE, "a", encoding="utf-8") as out:
                out.write(name + "\n")
        if _reached == _KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
