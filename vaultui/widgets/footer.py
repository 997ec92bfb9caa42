"""The key footer every screen shows, tightened on narrow terminals so `? Help` stays on screen at 60 columns."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

# Below this width the footer drops the padding between keys (at 60 columns that is what brings `?` into view).
COMPACT_BELOW = 80


class VaultFooter(Footer):
    def __init__(self) -> None:
        super().__init__(show_command_palette=False)  # ctrl+p is listed in the help, not on every screen

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < COMPACT_BELOW
