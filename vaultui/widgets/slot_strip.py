"""A strip of the last days' schedule slots: met, missed or pending, one cell a day."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.sla.compliance import ComplianceReport

# Explicit colours: ANSI green on a near-black background fell below a 4.5:1 contrast.
MET, MISSED, PENDING = "#5fd75f", "#ff5f5f", "#ffd75f"
SYMBOLS = {"met": ("■", MET), "missed": ("■", MISSED), "pending": ("□", PENDING)}


class SlotStrip(Static):
    """Renders the slots of a compliance report; the newest slot is on the right."""

    DEFAULT_CSS = """
    SlotStrip { height: 2; padding: 0 1; }
    """

    def show(self, report: ComplianceReport | None, days: int) -> None:
        if report is None:
            self.update("")
            return
        # The window's days exactly (the figure beside it counts the same slots), fewer only if the terminal
        # is narrower than that.
        room = self.size.width - 4 if self.size.width > 10 else days
        slots = report.slots[-max(1, min(days, room)) :]
        line = Text()
        for slot in slots:
            symbol, colour = SYMBOLS[slot.status]
            line.append(symbol, style=colour)
        first = slots[0].start.strftime("%Y-%m-%d") if slots else ""
        legend = Text(f"{len(slots)} slots since {first}: ", style="dim")
        legend.append("■ met ", style=MET).append("■ missed ", style=MISSED).append("□ pending", style=PENDING)
        self.update(Text.assemble(line, "\n", legend))
