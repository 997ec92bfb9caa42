"""Small text formats shared by the CLI and the dashboard."""

from __future__ import annotations

from datetime import timedelta

from engine.common.clock import duration_text
from engine.sla.rto import verdict

__all__ = ["duration_text", "short_age", "against_rto"]


def against_rto(duration_seconds: float, rto_seconds: float, met: bool) -> str:
    """How long a restore or drill took against the RTO, in the words the CLI and the dashboard share."""
    return f"in {duration_text(duration_seconds)} (RTO target {duration_text(rto_seconds)}: {verdict(met)})"


def short_age(age: timedelta) -> str:
    """An exact, short age: 16d (never "a month ago" for 16 days), 5h, 12m."""
    if age.days:
        return f"{age.days}d"
    hours = age.seconds // 3600
    return f"{hours}h" if hours else f"{age.seconds // 60}m"


def gaps_text(count: int) -> str:
    """"1 gap", "2 gaps": how many gaps the captured oplog has."""
    return f"{count} gap{'' if count == 1 else 's'}"
