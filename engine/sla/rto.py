"""The recovery-time objective: its default, and the one verdict that CLI, dashboard, report and metrics give."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.evidence.ledger import RunRecord

from engine.common.config import DEFAULT_RTO_SECONDS

__all__ = ["DEFAULT_RTO_SECONDS", "recovery_met", "rto_met", "verdict"]


def rto_met(duration_seconds: float, rto_seconds: float, *, succeeded: bool = True) -> bool:
    """A recovery meets the RTO when it succeeded within it."""
    return succeeded and duration_seconds <= rto_seconds


def recovery_limit(run: RunRecord, rto_seconds: float) -> float:
    """The RTO a recorded restore or drill ran under (recorded with it), else `rto_seconds`."""
    recorded = run.details.get("rto_seconds") if isinstance(run.details, dict) else None
    return float(recorded if isinstance(recorded, int | float) and not isinstance(recorded, bool) else rto_seconds)


def recovery_met(run: RunRecord, rto_seconds: float) -> bool:
    """A recorded restore or drill, judged against the RTO it ran under (see recovery_limit)."""
    return rto_met(run.duration_seconds, recovery_limit(run, rto_seconds), succeeded=run.succeeded)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"
