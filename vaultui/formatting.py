"""Small text formats shared by the CLI and the dashboard."""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """1m12s for a minute and more, 4.2s below."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"
