"""The dashboard's tables: Textual's DataTable with the keys people bring from vim, less and k9s."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class VaultTable(DataTable):  # type: ignore[type-arg]
    """A row table that also moves with j/k (down/up) and g/G (first/last row)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First", show=False),
        Binding("G", "scroll_bottom", "Last", show=False),
    ]
