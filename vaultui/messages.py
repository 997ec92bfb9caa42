"""Messages workers post to the UI: past tense, plain data. Only `@on` handlers change what is shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message

from engine.archive.catalog import ArchiveEntry
from engine.common.progress import Progress
from engine.sla.status import StatusSummary


class StateLoaded(Message):
    def __init__(self, summary: StatusSummary) -> None:
        super().__init__()
        self.summary = summary


class ArchivesListed(Message):
    """The first load's listing, posted before the summary: the archives table fills while status is read."""

    def __init__(self, archives: list[ArchiveEntry]) -> None:
        super().__init__()
        self.archives = archives


class StateFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class WorkProgressed(Message):
    """Progress of a long action; a newer one replaces an unhandled older one (no queue of stale bars)."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WorkProgressed)


class ActionFinished(Message):
    """A long action (backup, verify, drill, hold, purge, restore) ended: `ok`, one line to show, the engine's
    result (`value`, None after an error), and the callback its starter asked for, run on the UI thread."""

    def __init__(
        self,
        action: str,
        ok: bool,
        text: str,
        value: Any = None,
        on_done: Callable[[ActionFinished], None] | None = None,
    ) -> None:
        super().__init__()
        self.action = action
        self.ok = ok
        self.text = text
        self.value = value
        self.on_done = on_done
