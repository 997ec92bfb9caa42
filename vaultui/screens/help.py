"""`?`: every key binding of the current view and the app, and the `:` commands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

COMMANDS_HELP = ":archives (:a)  :runs (:r)  :compliance (:c)  :purge (:p)  :help  :quit (:q)"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        lines = ["[b]Keys[/b]", ""]
        lines += [f"  [b]{key:<10}[/b] {description}" for key, description in self.rows]
        lines += [
            "",
            "[b]Commands[/b] (press : then type)",
            "",
            f"  {COMMANDS_HELP}",
            "",
            "  ctrl+p opens the command palette; esc goes back.",
        ]
        with VerticalScroll(classes="dialog help"):
            yield Static("\n".join(lines))

    def action_close(self) -> None:
        self.dismiss(None)
