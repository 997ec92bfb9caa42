"""Restorable time per day: base archives as marks, the captured oplog as a bar, gaps in red; the newest day
on the right, over the compliance window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual.widgets import Static

from engine.archive.catalog import ArchiveEntry
from engine.common.states import ArchiveStatus
from engine.pitr.coverage import Coverage, compact_window, describe_window
from vaultui.formatting import duration_text

DAY = timedelta(days=1)


def day_cells(coverage: Coverage, archives: list[ArchiveEntry], now: datetime, days: int) -> tuple[Text, Text]:
    """Two rows of one cell a day: ▼ where a base archive was made; the bar █ when the whole day can be
    restored to the second, ▄ part of it, ✕ red where a recorded gap falls, · nothing but archive times."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - (days - 1) * DAY
    made = {entry.ref.time.astimezone(UTC).date() for entry in archives if entry.status == ArchiveStatus.COMPLETE}
    holes = [(gap.began, gap.ended) for gap in coverage.gaps]
    marks, bar = Text(), Text()
    for index in range(days):
        start = first + index * DAY
        end = min(start + DAY, now)
        marks.append("▼" if start.date() in made else " ", style="cyan")
        share = coverage.share(start, end) if end > start else 0.0
        if any(begin < end and start <= finish for begin, finish in holes):
            bar.append("✕", style="bold red")
        elif share >= 0.99:
            bar.append("█", style="green")
        elif share > 0:
            bar.append("▄", style="yellow")
        else:
            bar.append("·", style="dim")
    return marks, bar


class Timeline(Static):
    """The restorable-time strip of the compliance view."""

    DEFAULT_CSS = """
    Timeline { height: 4; padding: 0 1; }
    """

    def show(
        self, coverage: Coverage | None, archives: list[ArchiveEntry], now: datetime, rpo: float | None, window: int
    ) -> None:
        """The compliance window's days (as the slot strip above), fewer only if the terminal is narrower."""
        if coverage is None:
            self.update("")
            return
        days = max(1, min(window, self.size.width - 2 if self.size.width > 10 else window))
        marks, bar = day_cells(coverage, archives, now, days)
        legend = Text("restorable ", style="bold")
        wide = self.size.width >= 110
        legend.append(describe_window(coverage, now) if wide else compact_window(coverage, now))
        if rpo is not None:
            legend.append(f"  RPO {duration_text(rpo) if rpo < 3600 else f'{rpo / 3600:.1f}h'}", style="bold")
        key = Text(f"{days} days: ", style="dim")
        key.append("▼ archive ", style="cyan").append("█ any second ", style="green")
        key.append("▄ part ", style="yellow").append("✕ gap ", style="bold red").append(
            "· archive times only", style="dim"
        )
        self.update(Text.assemble(marks, "\n", bar, "\n", legend, "\n", key))
