"""The ledger: every run newest first, failures highlighted with their error."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from engine.errors import VaultError
from engine.ledger import RunRecord, list_runs
from vaultui.screens.base import VaultScreen
from vaultui.widgets.status_line import StatusLine
from vaultui.widgets.table import VaultTable

SHOWN = 500
COLUMNS = (("Started (UTC)", 19), ("Kind", 7), ("Result", 7), ("Archive", 24), ("Duration", 8), ("Error", 72))


class RunsLoaded(Message):
    def __init__(self, runs: list[RunRecord], error: str = "") -> None:
        super().__init__()
        self.runs, self.error = runs, error


class RunsScreen(VaultScreen):
    loading_data = False  # True from asking for the ledger until its records are shown

    def compose(self) -> ComposeResult:
        yield StatusLine()
        yield Static(f"Runs — the newest {SHOWN} ledger records", classes="view-title")
        yield VaultTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in COLUMNS:  # fixed: the layout does not move as records arrive
            table.add_column(label, width=width)
        self.watch(self.app, "summary", lambda _: self.load())

    def on_screen_resume(self) -> None:
        self.load()

    def load(self) -> None:
        self.query_one(StatusLine).show(self.vault)
        self.loading_data = True
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def load_runs(self) -> None:
        vault = self.vault
        if vault.storage is None:
            self.post_message(RunsLoaded([], ""))
            return
        try:
            self.post_message(RunsLoaded(list_runs(vault.storage, limit=SHOWN)))
        except VaultError as error:
            self.post_message(RunsLoaded([], str(error)))

    @on(RunsLoaded)
    def show(self, message: RunsLoaded) -> None:
        self.loading_data = False
        if message.error:
            self.notify(message.error, severity="error")
        runs = message.runs
        table = self.query_one(DataTable)
        table.clear()
        for run in runs:
            style = {"failure": "bold red", "skipped": "yellow", "refused": "yellow"}.get(run.result, "green")
            table.add_row(
                run.started_at.replace("+00:00", "").replace("T", " "),
                run.kind,
                Text(run.result, style=style),
                run.archive or "",
                f"{run.duration_seconds:.1f}s",
                Text(run.error or "", style="red"),
            )
        if not runs:
            table.add_row("no runs recorded yet", "", "", "", "", "")
