"""Small text formats shared by the CLI and the dashboard."""

from __future__ import annotations

from datetime import timedelta

from engine.common.clock import duration_text

__all__ = ["duration_text", "short_age"]


def short_age(age: timedelta) -> str:
    """An exact, short age: 16d (never "a month ago" for 16 days), 5h, 12m."""
    if age.days:
        return f"{age.days}d"
    hours = age.seconds // 3600
    return f"{hours}h" if hours else f"{age.seconds // 60}m"
