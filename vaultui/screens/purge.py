"""The purge preview: every archive's fate and reason; applying it takes a confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import humanize
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from engine.common.errors import VaultError
from engine.common.states import PurgeAction
from engine.sla.retention import PurgePlan, apply_purge, make_plan
from vaultui.formatting import oplog_plan_line, plan_summary
from vaultui.messages import ActionFinished, WorkProgressed
from vaultui.screens.base import VaultScreen
from vaultui.screens.dialogs import ConfirmScreen
from vaultui.widgets.footer import VaultFooter
from vaultui.widgets.table import VaultTable

if TYPE_CHECKING:
    from engine.common.progress import ProgressCallback


class PlanLoaded(Message):
    """The purge plan, or the error that kept it from loading."""

    def __init__(self, plan: PurgePlan | None, error: str = "") -> None:
        super().__init__()
        self.plan, self.error = plan, error


class PurgeScreen(VaultScreen):
    BINDINGS = [Binding("a", "apply", "Apply purge"), Binding("escape", "app.back", "Back")]
    loading_data = False  # True from asking for the plan until it is shown (or has failed)

    def __init__(self) -> None:
        super().__init__()
        self.plan: PurgePlan | None = None

    def compose(self) -> ComposeResult:
        yield Static("Purge plan (dry run) — loading…", id="purge-title", classes="view-title")
        yield VaultTable(id="plan", cursor_type="row", zebra_stripes=True)
        yield Static("", id="purge-flash")
        yield VaultFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in (("Action", 6), ("Archive", 24), ("Age", 6), ("Size", 10), ("Reason", 72)):
            table.add_column(label, width=width)  # fixed: the layout does not move as the plan arrives
        self.loading_data = True
        self.load()

    @work(thread=True, exclusive=True, group="purge", exit_on_error=False)
    def load(self) -> None:
        vault = self.vault
        if vault.storage is None:
            self.post_message(PlanLoaded(None, "no storage"))
            return
        try:
            self.post_message(PlanLoaded(make_plan(vault.storage, vault.settings.policy, vault.now())))
        except VaultError as error:
            self.post_message(PlanLoaded(None, str(error)))

    @on(PlanLoaded)
    def loaded(self, message: PlanLoaded) -> None:
        self.loading_data = False
        if message.plan is None:
            self.notify(message.error, severity="error")
            return
        self.show(message.plan)

    def show(self, plan: PurgePlan) -> None:
        self.plan = plan
        then = ". Press [b]a[/b] to apply." if plan.deletions else ". Nothing to delete."
        summary = plan_summary(plan)
        self.query_one("#purge-title", Static).update(summary[0].upper() + summary[1:] + then)
        if plan.chunks:
            self.query_one("#purge-flash", Static).update(oplog_plan_line(plan))
        table = self.query_one(DataTable)
        table.clear()
        # What will go first: the deletions are what a person must check before pressing a.
        for decision in plan.deletions + plan.keepers:
            style = "bold red" if decision.action == PurgeAction.DELETE else "green"
            table.add_row(
                Text(decision.action, style=style),
                decision.name,
                f"{decision.age_days} d",
                humanize.naturalsize(decision.entry.size, binary=True),
                decision.reason,
            )

    def action_apply(self) -> None:
        if self.plan is None or not self.plan.deletions:
            self.notify("nothing to purge", severity="warning")
            return
        names = "\n".join(f"  {decision.name}  ({decision.reason})" for decision in self.plan.deletions[:12])
        more = len(self.plan.deletions) - 12
        body = f"These archives and their manifests will be deleted for good:\n{names}" + (
            f"\n  … and {more} more" if more > 0 else ""
        )
        self.app.push_screen(
            ConfirmScreen(f"Delete {len(self.plan.deletions)} archives?", body, "Delete"), self.confirmed
        )

    def confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        vault = self.vault

        def purge(progress: ProgressCallback) -> tuple[bool, str, object]:
            assert vault.storage is not None
            result = apply_purge(vault.storage, vault.settings.policy, clock=vault.settings.clock, progress=progress)
            text = result.describe()
            if not result.complete:  # the CLI exits 5 for the same run: never "ok" with archives left over
                text += ": " + "; ".join(f"{name}: {reason}" for name, reason in result.skipped[:3])
            return result.complete, text, result

        def done(_: ActionFinished) -> None:
            if not self.is_attached:  # left while the purge ran: the app's notification says how it ended
                return
            self.query_one("#purge-flash", Static).update("")
            self.loading_data = True
            self.load()

        vault.start_action("purge", purge, on_done=done)

    @on(WorkProgressed)
    def progressed(self, message: WorkProgressed) -> None:
        progress = message.progress
        self.query_one("#purge-flash", Static).update("" if progress.finished else f"deleting {progress.current}…")
