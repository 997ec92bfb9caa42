"""The top line: where we are (storage, Kubernetes context), compliance, last success, the clock."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import humanize
from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from vaultui.screens.base import Vault


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, vault: Vault) -> None:
        """Draws from the app's state: storage, Kubernetes context, the loaded summary or its error."""
        storage, kube, summary, error, now = (
            vault.storage_label,
            vault.kube_label,
            vault.summary,
            vault.state_error,
            vault.now(),
        )
        window_days = vault.settings.window_days
        line = Text.assemble(("vaultui ", "bold"), (storage, "cyan"), "  ", (kube, "dim"))
        if error:
            line.append(f"  ✗ {error}", style="bold red")
        elif summary is not None:
            window = summary.compliance.since(now - timedelta(days=window_days))
            percent = window.percent
            good = not window.below_target
            shown = "no data" if percent is None else f"{percent:.1f}%"
            line.append(f"  compliance {shown}", style="bold green" if good else "bold red")
            last = summary.compliance.last_success
            age = humanize.naturaldelta(now - last) + " ago" if last else "never"
            line.append(f"  last success {age}", style="red" if summary.compliance.stale else "")
            if interrupted := summary.interrupted_restores:
                line.append(f"  ⚠ restore interrupted ({interrupted[0].host})", style="bold red")
        else:
            line.append("  loading…", style="dim")
        line.append(f"  {now:%H:%M:%S}Z", style="dim")
        self.update(line)
