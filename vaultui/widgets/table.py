"""The dashboard's tables: Textual's DataTable with the keys people bring from vim, less and k9s."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class VaultTable(DataTable):  # type: ignore[type-arg]
    """A row table that also moves with j/k (down/up) and g/G (first/last row)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First", show=False),
        Binding("G", "scroll_bottom", "Last", show=False),
    ]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable measures every cell of every new row (a terminal-size query per cell) to size auto-width
        columns and auto-height rows. Where every column has a fixed width and no row is labelled or of auto
        height, as in the archives table, that measures nothing used, and it was four fifths of the time to fill
        1,000 rows (a key typed into the filter took 300 ms over 10,000 archives): only the size is left to set.
        Textual is pinned (pyproject.toml); tests/test_ui.py checks the table's size and rows after a fill."""
        keys = list(new_rows)
        measured = any(column.auto_width for column in self.columns.values()) or any(
            row is not None and (row.auto_height or row.label is not None)
            for row in (self.rows.get(key) for key in keys)
        )
        if measured:
            super()._update_dimensions(keys)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self._total_row_height + header)
