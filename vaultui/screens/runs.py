"""The ledger: every run newest first, failures highlighted with their error. Verify records (one per archive
of a `verify --all`) are hidden unless asked for, so they do not bury the backups; `/` filters, Enter shows a
run whole."""

from __future__ import annotations

import json

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from engine.common.errors import VaultError
from engine.common.states import RunKind, RunResult
from engine.evidence.ledger import RunRecord, list_runs
from vaultui.screens.base import VaultScreen
from vaultui.screens.dialogs import DetailScreen
from vaultui.widgets.footer import VaultFooter
from vaultui.widgets.status_line import StatusLine
from vaultui.widgets.table import VaultTable

SHOWN = 500
RESULT_STYLES = {RunResult.FAILURE: "bold red", RunResult.SKIPPED: "yellow", RunResult.REFUSED: "yellow"}
# The error before the archive: at 80 columns it is what a failed row must show (Enter shows it whole).
COLUMNS = (("Started (UTC)", 19), ("Kind", 12), ("Result", 7), ("Duration", 8), ("Error", 52), ("Archive", 24))


class RunsLoaded(Message):
    def __init__(self, runs: list[RunRecord], error: str = "") -> None:
        super().__init__()
        self.runs, self.error = runs, error


class RunsScreen(VaultScreen):
    BINDINGS = [
        Binding("v", "toggle_verifies", "Verifies"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    loading_data = False  # True from asking for the ledger until its records are shown

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunRecord] = []
        self.shown_runs: list[RunRecord] = []
        self.show_verifies = False
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield StatusLine()
        yield Static("", id="runs-title", classes="view-title")
        yield VaultTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="run-detail")  # the selected run's whole error, which the table cuts at 80 columns
        yield Input(placeholder="filter by kind, result, archive or error (esc clears)", id="runs-filter")
        yield VaultFooter()

    def on_mount(self) -> None:
        self.query_one("#runs-filter", Input).display = False
        table = self.query_one(DataTable)
        for label, width in COLUMNS:  # fixed: the layout does not move as records arrive
            table.add_column(label, width=width)
        self.watch(self.app, "summary", lambda _: self.load())

    def on_screen_resume(self) -> None:
        self.load()

    def load(self) -> None:
        self.query_one(StatusLine).show(self.vault)
        self.loading_data = True
        if not self.runs:
            self.query_one("#runs-title", Static).update("Runs — reading the ledger…")
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
        self.runs = message.runs
        self.fill()

    def fill(self) -> None:
        needle = self.filter_text.lower()
        verifies = sum(1 for run in self.runs if run.kind == RunKind.VERIFY)
        self.shown_runs = [
            run
            for run in self.runs
            if (self.show_verifies or run.kind != RunKind.VERIFY)
            and (not needle or needle in f"{run.kind} {run.result} {run.archive or ''} {run.error or ''}".lower())
        ]
        hidden = "" if self.show_verifies or not verifies else f"; {verifies} verify records hidden (v shows them)"
        self.query_one("#runs-title", Static).update(
            f"Runs — {len(self.shown_runs)} of the newest {SHOWN} ledger records{hidden}"
            + (f"; filter: {self.filter_text}" if needle else "")
        )
        table = self.query_one(DataTable)
        table.clear()
        for run in self.shown_runs:
            style = RESULT_STYLES.get(run.result, "green")
            table.add_row(
                run.started_at.replace("+00:00", "").replace("T", " ")[:19],
                "restore→time" if run.kind == RunKind.RESTORE and run.details.get("to_time") else run.kind,
                Text(run.result, style=style),
                f"{run.duration_seconds:.1f}s",
                Text(run.error or "", style="red"),
                run.archive or "",
            )
        if not self.shown_runs:
            table.add_row("no runs recorded yet" if not self.runs else "no run matches", "", "", "", "", "")
        self.show_run_detail()

    @on(DataTable.RowHighlighted, "#runs")
    def show_run_detail(self) -> None:
        table = self.query_one("#runs", DataTable)
        run = self.shown_runs[table.cursor_row] if 0 <= table.cursor_row < len(self.shown_runs) else None
        self.query_one("#run-detail", Static).update(
            Text(f"{run.kind} {run.started_at[:19].replace('T', ' ')} {run.result}: {run.error}", style="red")
            if run is not None and run.error
            else ""
        )

    @on(DataTable.RowSelected, "#runs")
    def selected_row(self, event: DataTable.RowSelected) -> None:
        """Enter: the whole record (its full error, duration, archive, where it ran, its details)."""
        if 0 <= event.cursor_row < len(self.shown_runs):
            run = self.shown_runs[event.cursor_row]
            self.app.push_screen(DetailScreen(f"{run.kind} run {run.id}", describe_run(run)))

    def action_toggle_verifies(self) -> None:
        self.show_verifies = not self.show_verifies
        self.fill()

    def action_filter(self) -> None:
        field = self.query_one("#runs-filter", Input)
        field.display = True
        self.set_focus(field)

    @on(Input.Changed, "#runs-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.fill()

    @on(Input.Submitted, "#runs-filter")
    def filter_done(self) -> None:
        self.query_one(DataTable).focus()

    def action_clear_filter(self) -> None:
        """Escape: clears the filter when there is one, else goes back as everywhere."""
        field = self.query_one("#runs-filter", Input)
        if not field.display and not field.value:
            self.app.action_back()  # type: ignore[unused-coroutine]  # VaultApp's is synchronous
            return
        field.value = ""
        field.display = False
        self.query_one(DataTable).focus()


def describe_run(run: RunRecord) -> Text:
    """A run record whole, as plain text (errors and details may hold brackets: no markup)."""
    lines = [
        f"result    {run.result}",
        f"started   {run.started_at}",
        f"finished  {run.finished_at}",
        f"duration  {run.duration_seconds:.1f}s",
    ]
    if run.archive:
        lines.append(f"archive   {run.archive}")
    if run.documents or run.bytes:
        lines.append(f"moved     {run.documents:,} documents, {run.bytes:,} bytes")
    if run.error:
        lines += ["", "error", f"  {run.error}"]
    if run.details:
        lines += ["", "details"] + [f"  {line}" for line in json.dumps(run.details, indent=1, default=str).splitlines()]
    return Text("\n".join(lines))
