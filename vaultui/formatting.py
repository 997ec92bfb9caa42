"""Small text formats shared by the CLI and the dashboard."""

from __future__ import annotations

from datetime import timedelta


def duration_text(seconds: float) -> str:
    """1m12s for a minute and more, 4.2s below."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def short_age(age: timedelta) -> str:
    """An exact, short age: 16d (never "a month ago" for 16 days), 5h, 12m."""
    if age.days:
        return f"{age.days}d"
    hours = age.seconds // 3600
    return f"{hours}h" if hours else f"{age.seconds // 60}m"
