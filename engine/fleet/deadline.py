"""A call that returns within a deadline whatever the storage does: it runs on a daemon thread, abandoned
when time is up (a socket that hangs cannot be interrupted from outside; the next refresh tries again)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NoAnswer(Exception):
    """The call did not return within its deadline."""


def call_within(function: Callable[[], T], seconds: float, name: str = "vaultui-deadline") -> T:
    """function()'s value or exception, or NoAnswer after `seconds`."""
    outcome: list[tuple[bool, object]] = []

    def call() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as error:  # noqa: BLE001  # handed to the caller, raised there
            outcome.append((False, error))

    thread = threading.Thread(target=call, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise NoAnswer(f"no answer within {seconds:.0f} s")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
