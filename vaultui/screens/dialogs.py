"""Modal dialogs: a confirmation with Cancel focused, a typed confirmation, a one-line prompt."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no for a dangerous action; Cancel has the focus, so a stray enter does nothing harmful."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#cancel"

    def __init__(self, title: str, body: str, action_label: str = "Confirm") -> None:
        super().__init__()
        self.title_text, self.body, self.action_label = title, body, action_label

    def compose(self) -> ComposeResult:
        # The body scrolls inside the box; the question's foot (buttons) is docked, so a long list of what
        # will be deleted or dropped never pushes the buttons off a 60×20 terminal.
        with VerticalScroll(classes="dialog"):
            with Vertical(classes="dialog-foot"):
                yield from self.foot()
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")

    def foot(self) -> ComposeResult:
        with Horizontal(classes="dialog-buttons"):
            yield Button("Cancel", id="cancel")
            yield Button(self.action_label, id="confirm", variant="error")

    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class TypedConfirmScreen(ConfirmScreen):
    """Confirmation that also requires typing a word (the target's name), as k9s does for deletes."""

    AUTO_FOCUS = "#typed"  # the typed word is the safety: enter does nothing until it matches

    def __init__(self, title: str, body: str, word: str, action_label: str = "Restore") -> None:
        super().__init__(title, body, action_label)
        self.word = word

    def foot(self) -> ComposeResult:
        yield Label(f"Type [b]{self.word}[/b] to confirm:")
        yield Input(placeholder="the name, as shown above", id="typed")
        yield Label("", id="typed-wrong", classes="dialog-wrong")
        with Horizontal(classes="dialog-buttons"):
            yield Button("Cancel", id="cancel")
            yield Button(self.action_label, id="confirm", variant="error", disabled=True)

    @on(Input.Changed, "#typed")
    def typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value.strip() != self.word

    @on(Input.Submitted, "#typed")
    def submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.word:
            self.dismiss(True)
            return
        typed = event.value.strip()
        self.query_one("#typed-wrong", Label).update(
            Text(f"{typed!r} is not {self.word!r}: type {self.word} to confirm, or esc to cancel", style="bold red")
            if typed
            else Text(f"nothing typed: type {self.word} to confirm, or esc to cancel", style="bold red")
        )


class QuitWhileBusyScreen(ModalScreen[str]):
    """`q` while a restore, backup or purge runs: never vanish with it. Keep working (focused: a stray enter is
    harmless), quit once it ends (its progress stays on screen), or cancel it at its next safe point, then
    quit. Dismissed with "keep", "wait" or "cancel"."""

    BINDINGS = [Binding("escape", "keep", "Keep working")]
    AUTO_FOCUS = "#keep"

    def __init__(self, action: str, progress: str) -> None:
        super().__init__()
        self.action, self.progress = action, progress

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            with Vertical(classes="dialog-foot"):
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Keep working", id="keep", variant="primary")
                    yield Button("Quit when it ends", id="wait")
                    yield Button("Cancel it", id="cancel", variant="error")  # short: all three fit at 60 columns
            yield Label(f"A {self.action} is running", classes="dialog-title")
            yield Static(self.progress or "starting…", id="quit-progress", classes="dialog-body")
            yield Static(
                "Quitting now would stop it mid-way. Wait for it to end (the dashboard quits then and prints "
                "how it ended), or cancel it: it stops at its next safe point, is recorded as interrupted, and a "
                "restore cut short is redone by the next restore (status says so).",
                classes="dialog-body",
            )

    def show_progress(self, text: str) -> None:
        self.query_one("#quit-progress", Static).update(text)

    @on(Button.Pressed)
    def chosen(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "keep")

    def action_keep(self) -> None:
        self.dismiss("keep")


class PromptScreen(ModalScreen[str | None]):
    """Asks for one line of text (a hold's reason, a command); escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#answer"

    def __init__(
        self,
        prompt: str,
        placeholder: str = "",
        classes: str = "dialog",
        value: str = "",
        completions: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.prompt, self.placeholder, self.box_classes, self.value = prompt, placeholder, classes, value
        self.completions = completions or []

    def compose(self) -> ComposeResult:
        with Vertical(classes=self.box_classes):
            yield Label(self.prompt)
            # Completions show inline as you type; the right arrow takes them.
            suggester = SuggestFromList(self.completions, case_sensitive=False) if self.completions else None
            yield Input(self.value, placeholder=self.placeholder, id="answer", suggester=suggester)

    @on(Input.Submitted, "#answer")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())  # "" when submitted empty; None only when cancelled

    def action_cancel(self) -> None:
        self.dismiss(None)


class DetailScreen(ModalScreen[None]):
    """Enter on a row: everything known about it, scrollable; esc, q or enter closes."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, body: str | Text) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help detail"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, id="detail-body")

    def action_close(self) -> None:
        self.dismiss(None)
