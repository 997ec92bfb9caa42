"""The top line: compliance, RPO and last success first, then where we are (storage, Kubernetes), the clock."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from vaultui.formatting import short_age

if TYPE_CHECKING:
    from vaultui.screens.base import Vault


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, vault: Vault) -> None:
        """Draws from the app's state, most important first (a narrow terminal cuts the end): running work,
        compliance, RPO, last success, a READ-ONLY badge, an interrupted restore; then storage, Kubernetes context,
        clock."""
        storage, kube, summary, error, now = (
            vault.storage_label,
            vault.kube_label,
            vault.summary,
            vault.state_error,
            vault.now(),
        )
        line = Text()
        if vault.busy:  # first while work runs, on every view: what runs, how far, its ETA (80 columns keep it)
            line.append(f"⟳ {vault.progress_text()}", style="bold yellow")
            line.append("  ")
        if error:
            line.append(f"✗ {error}  ", style="bold red")
        elif summary is not None:
            window = summary.compliance.since(now - timedelta(days=vault.settings.window_days))
            percent = window.percent
            shown = "no data" if percent is None else f"{percent:.1f}%"
            target = f"{vault.settings.target_percent:g}%"
            line.append(
                f"compliance {shown} BELOW {target}" if window.below_target else f"compliance {shown} ≥ {target}",
                style="bold red" if window.below_target else "bold green",
            )
            rpo = summary.rpo_seconds
            if rpo is not None:
                text = f"{rpo:.0f}s" if rpo < 120 else short_age(timedelta(seconds=rpo))
                line.append(f"  RPO {text}", style="bold red" if summary.rpo_exceeded else "")
            last = summary.compliance.last_success
            age = short_age(now - last) + " ago" if last else "never"
            line.append(f"  last ok {age}", style="bold red" if summary.compliance.stale else "")
            line.append("  ")
        else:
            line.append("loading…  ", style="dim")
        if vault.settings.readonly:
            line.append(" READ-ONLY ", style="bold black on yellow")
            line.append("  ")
        if summary is not None and (interrupted := summary.interrupted_restores):
            line.append(f"⚠ restore interrupted ({interrupted[0].host})  ", style="bold red")
        line.append(storage, style="cyan")
        line.append(f"  {kube}", style="dim")
        line.append(f"  {now:%H:%M:%S}Z", style="dim")
        self.update(line)
