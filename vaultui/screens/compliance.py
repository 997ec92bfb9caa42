"""Compliance at a glance: the live percentage against the target, missed slots and why, recovery vs RTO."""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Digits, Static

from engine.common.states import NOT_A_RECOVERY, RunKind, SlotStatus
from engine.sla.compliance import Slot
from engine.sla.rto import recovery_met
from engine.sla.status import StatusSummary
from vaultui.formatting import duration_text, recovery_line
from vaultui.screens.base import VaultScreen
from vaultui.widgets.footer import VaultFooter
from vaultui.widgets.slot_strip import SlotStrip
from vaultui.widgets.status_line import StatusLine
from vaultui.widgets.table import VaultTable
from vaultui.widgets.timeline import Timeline


class ComplianceScreen(VaultScreen):
    BINDINGS = [Binding("t", "app.restore_to_time", "Restore to time")]

    def __init__(self) -> None:
        super().__init__()
        self.missed: list[Slot] = []  # the table's rows, newest first

    def compose(self) -> ComposeResult:
        yield StatusLine()
        with Horizontal(id="compliance-top"):
            with Vertical(id="compliance-figure"):
                yield Digits("--", id="percent")
                yield Static("", id="compliance-caption")
            yield Static("", id="rto-panel")
        yield SlotStrip()
        yield Timeline()
        yield VaultTable(id="missed", cursor_type="row")
        yield Static("", id="missed-detail")  # the selected slot's whole cause, which the table cuts at 80 columns
        yield VaultFooter()

    def on_mount(self) -> None:
        table = self.query_one("#missed", DataTable)
        table.add_column("Missed slot", width=16)
        table.add_column("Cause", width=72)
        self.watch(self.app, "summary", self.show)

    def on_screen_resume(self) -> None:
        self.show(self.vault.summary)

    @on(DataTable.RowHighlighted, "#missed")
    def show_missed_detail(self) -> None:
        table = self.query_one("#missed", DataTable)
        detail = self.query_one("#missed-detail", Static)
        if not 0 <= table.cursor_row < len(self.missed):
            detail.update("")
            return
        slot = self.missed[table.cursor_row]
        when = f"{slot.start:%Y-%m-%d %H:%M} to {slot.end:%Y-%m-%d %H:%M} UTC"
        detail.update(Text(f"slot {when} missed: {slot.cause}", style="red"))

    def show(self, summary: StatusSummary | None) -> None:
        vault = self.vault
        self.query_one(StatusLine).show(vault)
        if summary is None:
            return
        # The app loads 90 days for the strip; the figure uses the configured window.
        window = vault.settings.window_days
        report = summary.compliance
        figures = report.since(vault.now() - timedelta(days=window))
        slots, percent, met = figures.slots, figures.percent, figures.met
        good = percent is None or percent >= report.target_percent
        digits = self.query_one("#percent", Digits)
        digits.update("--" if percent is None else f"{percent:.1f}%")
        digits.set_class(not good, "below")
        self.query_one("#compliance-caption", Static).update(
            Text.assemble(
                (f"target {report.target_percent:.0f}%  ", "bold"),
                (f"{met} met of {figures.expected} expected over {window} days", ""),
                ("\nBELOW TARGET" if not good else "\non target", "bold red" if not good else "bold green"),
            )
        )
        self.query_one(SlotStrip).show(figures, len(figures.slots))  # the very slots the figure counts
        self.query_one(Timeline).show(summary.coverage, summary.archives, summary.now, summary.rpo_seconds, window)
        table = self.query_one("#missed", DataTable)
        table.clear()
        self.missed = list(reversed([slot for slot in slots if slot.status == SlotStatus.MISSED]))
        for slot in self.missed:
            table.add_row(f"{slot.start:%Y-%m-%d %H:%M}", Text(slot.cause, style="red"))
        self.show_missed_detail()
        lines = [f"[b]Recovery[/b] (RTO {duration_text(summary.rto_seconds)})"]
        recoveries = [
            run
            for run in summary.runs
            if run.kind in (RunKind.RESTORE, RunKind.DRILL) and run.result not in NOT_A_RECOVERY
        ]
        for run in recoveries[:6]:
            color = "green" if recovery_met(run, summary.rto_seconds) else "red"
            lines.append(f"[{color}]{run.kind:<7} {recovery_line(run, summary.rto_seconds)}[/{color}]")
        if not recoveries:
            lines.append("no restore or drill yet: press d on the archives view to run a drill")
        if summary.forecast is not None:
            color = "green" if summary.forecast.within_rto else "red"
            lines.append(f"[{color}]forecast[/{color}]: {summary.forecast.describe()}")
        self.query_one("#rto-panel", Static).update("\n".join(lines))
