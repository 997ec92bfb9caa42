"""The main view: archives newest first, grouped by day, the slot strip, and the selected archive's details."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import humanize
from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from engine.archive.catalog import ArchiveEntry
from engine.archive.holds import read_holds
from engine.archive.manifest import Manifest
from engine.common.errors import VaultError
from engine.evidence.verifications import dump_origins
from engine.sla.retention import Decision
from engine.sla.status import StatusSummary
from vaultui.formatting import short_age
from vaultui.screens.base import VaultScreen
from vaultui.screens.dialogs import DetailScreen
from vaultui.widgets.footer import VaultFooter
from vaultui.widgets.slot_strip import SlotStrip
from vaultui.widgets.status_line import StatusLine
from vaultui.widgets.table import VaultTable

# Rows drawn at once: 300 cover a 90-day retention at three backups a day; `/` searches every archive. Each
# drawn row costs DataTable about 0.1 ms, and a key typed into the filter redraws them (under 100 ms here).
ROW_LIMIT = 300
STATUS_STYLES: dict[object, str] = {
    "held": "bold magenta",
    "corrupt": "bold red",
    "verified": "green",
    "complete": "green",
    "legacy": "yellow",
    "incomplete": "red",
}


# The codec is the name's extension (and in the detail): six columns fit 80 terminal columns.
COLUMNS = (("Date", 10), ("Archive", 24), ("Status", 10), ("Purge", 7), ("Size", 8), ("Age", 5))


SORTS = ("date", "size", "state")
# States that need a person first when sorting by state.
STATE_ORDER = {"corrupt": 0, "incomplete": 1, "legacy": 2, "complete": 3, "held": 4, "verified": 5}


def sort_entries(entries: list[ArchiveEntry], by: str, summary: StatusSummary) -> list[ArchiveEntry]:
    if by == "size":
        return sorted(entries, key=lambda entry: entry.size, reverse=True)
    if by == "state":
        return sorted(entries, key=lambda entry: STATE_ORDER.get(str(summary.state(entry)), 9))
    return entries  # the listing's order: newest first


class DetailLoaded(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ArchivesScreen(VaultScreen):
    BINDINGS = [
        Binding("r", "app.restore", "Restore"),
        Binding("p", "app.switch_view('purge')", "Purge"),
        Binding("b", "app.backup", "Backup"),
        Binding("v", "app.verify", "Verify"),
        Binding("d", "app.drill", "Drill", show=False),  # in the help: the footer keeps room for / ? : q
        Binding("h", "app.hold", "Hold"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "sort", "Sort", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.shown_entries: list[ArchiveEntry] = []  # the table's rows, in order
        self.detail_text = ""  # of the highlighted archive, once loaded
        self.sort_by = "date"  # o cycles through SORTS
        # What the rows were made from: their source (a summary or the first listing; held, not its id, since a
        # freed summary's id can come back), filter and sort.
        self.filled_from: tuple[object, str, str] | None = None
        # Per archive, for that source: its day, its status and the lower-case text the filter searches; a key
        # typed into the filter then costs a lookup each.
        self.facts: dict[str, tuple[str, object, str]] = {}

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        yield SlotStrip(id="slots")
        with Horizontal(id="archives-body"):
            yield VaultTable(id="archives", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="detail"):
                yield Static("Select an archive to see its manifest.", id="detail-text")
        yield Input(placeholder="filter by date, name or status (esc clears)", id="filter")
        yield Static("", id="flash")
        yield VaultFooter()

    def on_mount(self) -> None:
        table = self.query_one("#archives", DataTable)
        # Fixed widths: a table that sized its columns from the rows would change shape as rows arrive.
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        self.query_one("#filter", Input).display = False
        self.watch(self.app, "summary", self.show_summary)
        self.watch(self.app, "listed", self.show_listing)
        self.watch(self.app, "state_error", lambda _: self.show_summary(self.vault.summary))

    def on_screen_resume(self) -> None:
        self.show_summary(self.vault.summary)

    def on_resize(self) -> None:
        # Side by side on wide terminals; the manifest goes under the table on narrow ones (80×24).
        self.set_class(self.size.width < 130, "narrow")

    @property
    def selected(self) -> ArchiveEntry | None:
        table = self.query_one("#archives", DataTable)
        if table.row_count == 0 or not 0 <= table.cursor_row < len(self.shown_entries):
            return None
        return self.shown_entries[table.cursor_row]

    def show_summary(self, summary: StatusSummary | None) -> None:
        now = self.vault.now()
        self.query_one(StatusLine).show(self.vault)
        window = summary.compliance.since(now - timedelta(days=self.vault.settings.window_days)) if summary else None
        self.query_one(SlotStrip).show(window, len(window.slots) if window else 0)  # the header's figure's slots
        if summary is not None and not self.filled_with(summary):
            self.fill_table(summary, now)

    def filled_with(self, summary: StatusSummary) -> bool:
        """Whether the rows already show this very summary with this filter and sort (a screen resumed over an
        unchanged state, e.g. after the help, needs no refill)."""
        if self.filled_from is None:
            return False
        shown, filter_text, sort_by = self.filled_from
        return shown is summary and (filter_text, sort_by) == (self.filter_text, self.sort_by)

    def show_listing(self, archives: list[ArchiveEntry] | None) -> None:
        """The first load's listing, before the summary: names, sizes and ages now; state and purge follow."""
        if archives is not None and self.vault.summary is None:
            by_size = self.sort_by == "size"  # the state is not known yet: that order waits for it
            entries = sorted(archives, key=lambda entry: entry.size, reverse=True) if by_size else archives
            self.fill_rows(entries, lambda _: "…", {}, self.vault.now(), archives)

    def refill(self) -> None:
        """After a filter or sort change: from the summary, or from the first listing while it is all there is."""
        if self.vault.summary is not None:
            self.fill_table(self.vault.summary, self.vault.now())
        else:
            self.show_listing(self.vault.listed)

    def fill_table(self, summary: StatusSummary, now: datetime) -> None:
        entries = sort_entries(summary.archives, self.sort_by, summary)
        self.fill_rows(entries, summary.state, self.fates(summary), now, summary)
        if not summary.archives:
            self.query_one("#detail-text", Static).update(
                "No archives yet.\n\nPress [b]b[/b] to run the first backup now, or run\n"
                "  vaultui --headless backup\n(the MongoDB URI comes from VAULTUI_MONGO_URI)."
            )

    @staticmethod
    def fates(summary: StatusSummary) -> dict[str, Decision]:
        return {decision.name: decision for decision in summary.purge_plan.decisions}

    def fill_rows(
        self,
        entries: list[ArchiveEntry],
        state_of: Callable[[ArchiveEntry], object],
        fates: dict[str, Decision],
        now: datetime,
        source: object,
    ) -> None:
        """All rows in one batch (10,000 archives stay quick); the selected archive stays selected. `source`
        identifies what `entries` and `state_of` come from: the per-archive facts are kept while it is the same."""
        table = self.query_one("#archives", DataTable)
        previous = self.selected.name if self.selected else None
        needle = self.filter_text.lower()
        if self.filled_from is None or self.filled_from[0] is not source:
            self.facts = {}
        self.filled_from = (source, self.filter_text, self.sort_by)
        rows: list[tuple[Text, ...]] = []
        visible: list[ArchiveEntry] = []
        last_day, hidden = None, 0
        for entry in entries:
            facts = self.facts.get(entry.name)
            if facts is None:
                status = state_of(entry)
                day = entry.ref.time.isoformat()[:10]  # YYYY-MM-DD, five times cheaper than strftime
                facts = self.facts[entry.name] = (day, status, f"{day} {entry.name} {status}".lower())
            day, status, searched = facts
            if needle and needle not in searched:
                continue
            if len(rows) >= ROW_LIMIT:
                hidden += 1
                continue
            fate = fates.get(entry.name)
            purge = (
                ""
                if fate is None
                else "now"
                if fate.action == "delete"
                else (f"in {fate.purge_in_days} d" if fate.purge_in_days is not None else "kept")
            )
            rows.append(  # Text, not str: a str cell is parsed as markup (emoji codes included) when added
                (
                    Text(day if day != last_day else ""),
                    Text(entry.name),
                    Text(str(status), style=STATUS_STYLES.get(status, "")),
                    Text(purge, style="red" if purge == "now" else ""),
                    Text(humanize.naturalsize(entry.size, binary=True, format="%.0f")),
                    Text(short_age(now - entry.ref.time)),
                )
            )
            visible.append(entry)
            last_day = day
        table.clear()
        self.shown_entries = visible
        table.add_rows(rows)
        self.flash(f"{hidden:,} older archives not listed: press / and type a date to find one" if hidden else "")
        if not entries:
            return
        names = [entry.name for entry in visible]
        if not visible:
            self.detail_text = ""
            self.query_one("#detail-text", Static).update("No archive matches the filter (esc clears it).")
        elif previous in names:
            table.move_cursor(row=names.index(previous))
        else:
            table.move_cursor(row=0)
            table.scroll_home(animate=False)
            self.load_detail(visible[0])  # the cursor may not move, so no highlight event comes

    @on(DataTable.RowHighlighted, "#archives")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.shown_entries):
            self.load_detail(self.shown_entries[event.cursor_row])

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load_detail(self, entry: ArchiveEntry) -> None:
        try:
            storage = self.vault.storage
            manifest = entry.manifest(storage) if storage else None
            hold = read_holds(storage, [entry]).get(entry.name) if storage and entry.held else None
            text = self.describe(entry, manifest) + (f"\n\n[b]held[/b]: {escape(hold.describe())}" if hold else "")
        except VaultError as error:
            text = f"[red]{error}[/red]"
        self.post_message(DetailLoaded(text))

    @on(DetailLoaded)
    def detail_loaded(self, message: DetailLoaded) -> None:
        self.detail_text = message.text
        self.query_one("#detail-text", Static).update(message.text)

    @on(DataTable.RowSelected, "#archives")
    def selected_row(self, event: DataTable.RowSelected) -> None:
        """Enter: the whole detail (manifest, collections with counts, history, hold) in a window of its own."""
        entry = self.selected
        if entry is not None and self.detail_text.startswith(f"[b]{entry.name}[/b]"):
            self.app.push_screen(DetailScreen(entry.name, self.detail_text))

    def describe(self, entry: ArchiveEntry, manifest: Manifest | None) -> str:
        summary = self.vault.summary
        lines = [
            f"[b]{entry.name}[/b]",
            f"taken {entry.ref.time:%Y-%m-%d %H:%M:%S} UTC, "
            f"{humanize.naturalsize(entry.size, binary=True)}, {entry.ref.codec}",
        ]
        if summary is not None:
            fate = next((d for d in summary.purge_plan.decisions if d.name == entry.name), None)
            status = summary.state(entry)
            lines.append(f"status: {status}" + (f"; retention: {fate.action}, {fate.reason}" if fate else ""))
        if manifest is None:
            origin = dump_origins(summary.runs).get(entry.name) if summary is not None else None
            checked = summary is not None and entry.name in summary.verifications  # held or not
            old = "made by the old pipeline" + (f", {origin}" if origin else "")
            old += "" if checked else ", unverified (press v to check it)"
            lines.append("\nno manifest: " + (old if entry.ref.legacy else "the run never completed"))
        else:
            lines += [
                manifest.origin,
                f"took {manifest.duration_seconds:.1f}s, {humanize.intcomma(manifest.documents)} documents, "
                f"{humanize.naturalsize(manifest.bson_bytes, binary=True)} of BSON",
                f"sha256 {manifest.archive_sha256}",
                "encrypted with age to " + ", ".join(manifest.recipients) if manifest.recipients else "not encrypted",
                "oplog "
                + (
                    f"{manifest.oplog_start} → {manifest.oplog_end}"
                    if manifest.oplog_start
                    else "none (standalone server)"
                ),
                "",
                "[b]collections[/b]",
            ]
            lines += [
                f"  {c.namespace}: {humanize.intcomma(c.documents)} docs, "
                f"{humanize.naturalsize(c.bson_bytes, binary=True)}"
                + (f" ({c.type})" if c.type != "collection" else "")
                for c in manifest.collections
            ]
            lines += [f"  skipped {item}" for item in manifest.skipped]
        if summary is not None:
            history = [run for run in summary.runs if run.archive == entry.name]
            if history:
                lines += ["", "[b]history[/b]"]
                lines += [
                    f"  {run.started_at} {run.kind} {run.result}" + (f": {run.error}" if run.error else "")
                    for run in history[:10]
                ]
        return "\n".join(lines)

    def action_sort(self) -> None:
        """o: newest first, then largest first, then by state (corrupt and incomplete first)."""
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.refill()
        self.notify(f"sorted by {self.sort_by}", timeout=2)

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        # Focus now, not after the queue (Widget.focus defers): keys typed right after `/` belong to the filter.
        self.set_focus(field)

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refill()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one("#archives", DataTable).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if not field.display and not field.value:  # nothing to clear: esc means back (to the fleet, with one)
            self.vault.action_back()
            return
        field.value = ""
        field.display = False
        self.query_one("#archives", DataTable).focus()

    def flash(self, text: str) -> None:
        self.query_one("#flash", Static).update(text)
