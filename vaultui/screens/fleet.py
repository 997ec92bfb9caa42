"""The fleet: one row per deployment, worst first, so the engineer paged at 3 a.m. sees which one is in
trouble before anything else. Enter opens that deployment's dashboard; esc there comes back here.

Each row loads on a daemon thread of its own (engine.fleet.rows.load_row, with its deadline), not a Textual
worker: a storage that hangs holds a socket no one can interrupt, and a worker's thread would keep the app
from exiting until the deadline passed; a daemon thread is abandoned. Rows arrive as messages."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from engine.fleet.file import Deployment, Fleet
from engine.fleet.rows import FleetRow, FleetTotals, RowState, load_row, waiting_row, worst_first
from vaultui.fleet_cells import COLUMNS, STYLES, row_cells, row_detail
from vaultui.screens.base import VaultScreen
from vaultui.widgets.footer import VaultFooter
from vaultui.widgets.table import VaultTable


class RowLoaded(Message):
    def __init__(self, row: FleetRow, generation: int) -> None:
        super().__init__()
        self.row, self.generation = row, generation


class FleetScreen(VaultScreen):
    BINDINGS = [
        Binding("o", "open_selected", "Open (enter)"),
        Binding("ctrl+r", "reload", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, FleetRow] = {}
        self.generation = 0  # a reload's rows replace the older ones; a late row of an older reload is dropped
        self.loading_data = False
        self.shown: list[FleetRow] = []  # the rows in the order on screen
        # Until a key is pressed the cursor stays on the worst row as rows arrive; then on the one chosen.
        self.follow_top = True

    @property
    def fleet(self) -> Fleet:
        fleet = self.vault.fleet
        assert fleet is not None, "the fleet screen opens only with a fleet"
        return fleet

    def compose(self) -> ComposeResult:
        yield Static("", id="fleet-title", classes="view-title")
        yield Static("", id="fleet-busy")
        yield VaultTable(id="fleet", cursor_type="row", zebra_stripes=True)
        yield Static("", id="fleet-detail")
        yield VaultFooter()

    def on_screen_resume(self) -> None:
        self.show_busy()

    def show_busy(self) -> None:
        """A running action (started in a deployment's dashboard) stays in sight here, with its progress."""
        busy = self.query_one("#fleet-busy", Static)
        vault = self.vault
        busy.display = bool(vault.busy)
        if vault.busy:
            busy.update(Text(f"running in {vault.settings.deployment}: {vault.progress_text()}", style="bold yellow"))

    def on_mount(self) -> None:
        self.show_busy()
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width, key=label)
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Every row again, each on its own thread; rows still loading keep their last figures meanwhile."""
        self.generation += 1
        generation, now = self.generation, self.vault.now()
        deadline = self.vault.fleet_deadline
        for deployment in self.fleet.deployments:
            self.rows.setdefault(deployment.name, waiting_row(deployment))
        self.loading_data = True
        self.show_rows()
        post: Callable[[Message], object] = self.post_message
        for deployment in self.fleet.deployments:

            def load(deployment: Deployment = deployment) -> None:
                post(RowLoaded(load_row(deployment, now, deadline), generation))

            threading.Thread(target=load, name=f"vaultui-fleet-{deployment.name}", daemon=True).start()

    @on(RowLoaded)
    def row_loaded(self, message: RowLoaded) -> None:
        if message.generation != self.generation:
            return
        self.rows[message.row.name] = message.row
        self.loading_data = any(row.state == RowState.LOADING for row in self.rows.values())
        self.show_rows()

    def refresh_on_timer(self) -> None:
        if not self.loading_data:
            self.reload()

    def show_rows(self) -> None:
        table = self.query_one(DataTable)
        selected = self.selected_name()
        rows = self.shown = worst_first(list(self.rows.values()))
        now = self.vault.now()
        table.clear()
        for row in rows:
            style = STYLES[row.state]
            cells = row_cells(row, now)
            table.add_row(
                *[Text(cell, style=style if index < 2 else "") for index, cell in enumerate(cells)], key=row.name
            )
        if selected is not None and selected in self.rows and not self.follow_top:
            table.move_cursor(row=table.get_row_index(selected))
        totals = FleetTotals.of(rows)
        self.query_one("#fleet-title", Static).update(
            f"Fleet — {len(rows)} deployments: {totals.describe()}  ({self.fleet.path.name})"
        )
        self.show_detail()

    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001  # no row under the cursor yet
            return None
        return None if key.value is None else str(key.value)

    def on_key(self, _: events.Key) -> None:
        self.follow_top = False

    @on(DataTable.RowHighlighted)
    def highlighted(self, _: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        """Under the table: the selected row's storage, and whatever its cells had to cut (the error whole)."""
        name = self.selected_name()
        row = self.rows.get(name) if name else None
        detail = self.query_one("#fleet-detail", Static)
        if row is None:
            detail.update("")
            return
        detail.update(Text(row_detail(row, self.vault.now()), style=STYLES[row.state]))

    @on(DataTable.RowSelected)
    def selected(self, event: DataTable.RowSelected) -> None:  # enter on the table
        event.stop()
        self.action_open_selected()

    def action_open_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.vault.open_deployment(name)
