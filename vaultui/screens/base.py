"""What every dashboard screen may use of the app, as a typed contract: screens never import the App class."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from textual.screen import Screen

if TYPE_CHECKING:
    from engine.archive.catalog import ArchiveEntry
    from engine.common.progress import ProgressCallback
    from engine.fleet.file import Fleet
    from engine.sla.status import StatusSummary
    from engine.storage import Storage
    from vaultui.messages import ActionFinished
    from vaultui.settings import AppSettings

# The work of one action: given a progress callback, do it and return (ok, the line to show, a value).
ActionWork = Callable[["ProgressCallback"], tuple[bool, str, Any]]


class Vault(Protocol):
    """The app as screens see it: state to read, and the one way to run a long action."""

    settings: AppSettings
    storage: Storage | None
    summary: StatusSummary | None
    listed: list[ArchiveEntry] | None  # the first load's listing, until its summary comes
    state_error: str
    storage_label: str
    kube_label: str
    busy: str | None

    @property
    def fleet(self) -> Fleet | None: ...

    @property
    def fleet_deadline(self) -> float: ...

    def now(self) -> datetime: ...

    def progress_text(self) -> str: ...

    def refresh_state(self) -> object: ...

    def action_back(self) -> None: ...

    def open_deployment(self, name: str) -> None: ...

    def start_action(
        self, action: str, work: ActionWork, *, on_done: Callable[[ActionFinished], None] | None = None
    ) -> bool: ...


class VaultScreen(Screen[None]):
    """A screen of the dashboard, with typed access to the app's state and actions."""

    @property
    def vault(self) -> Vault:
        return self.app  # type: ignore[return-value]
