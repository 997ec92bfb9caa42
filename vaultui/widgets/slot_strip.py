"""A strip of the last days' schedule slots: met, missed or pending, one cell a day."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.compliance import ComplianceReport

SYMBOLS = {"met": ("■", "green"), "missed": ("■", "red"), "pending": ("□", "yellow")}


class SlotStrip(Static):
    """Renders the slots of a compliance report; the newest slot is on the right."""

    DEFAULT_CSS = """
    SlotStrip { height: 2; padding: 0 1; }
    """

    def show(self, report: ComplianceReport | None, days: int) -> None:
        if report is None:
            self.update("")
            return
        slots = report.slots[-max(1, self.size.width - 4 if self.size.width > 10 else days) :]
        line = Text()
        for slot in slots:
            symbol, colour = SYMBOLS[slot.status]
            line.append(symbol, style=colour)
        first = slots[0].start.strftime("%Y-%m-%d") if slots else ""
        legend = Text(f"{len(slots)} slots since {first}: ", style="dim")
        legend.append("■ met ", style="green").append("■ missed ", style="red").append("□ pending", style="yellow")
        self.update(Text.assemble(line, "\n", legend))
