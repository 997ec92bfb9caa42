"""Small text formats shared by the CLI and the dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import humanize

from engine.common.clock import duration_text
from engine.sla.rto import recovery_limit, recovery_met, verdict

if TYPE_CHECKING:
    from engine.evidence.ledger import RunRecord
    from engine.sla.retention import PurgePlan

__all__ = ["duration_text", "short_age", "against_rto", "recovery_line", "plan_summary", "oplog_plan_line"]


def against_rto(duration_seconds: float, rto_seconds: float, met: bool) -> str:
    """How long a restore or drill took against the RTO, in the words the CLI and the dashboard share."""
    return f"in {duration_text(duration_seconds)} (RTO target {duration_text(rto_seconds)}: {verdict(met)})"


def recovery_line(run: RunRecord, rto_seconds: float) -> str:
    """A past restore or drill against the RTO it ran under, as `status` and the compliance view list it."""
    limit = duration_text(recovery_limit(run, rto_seconds))
    return (
        f"{run.started_at[:19].replace('T', ' ')} {run.result}, {duration_text(run.duration_seconds)} "
        f"(RTO {limit}: {verdict(recovery_met(run, rto_seconds))})"
    )


def plan_summary(plan: PurgePlan) -> str:
    """The purge plan in one line: what goes, what stays, what it frees."""
    freed = humanize.naturalsize(sum(decision.entry.size for decision in plan.deletions), binary=True)
    return (
        f"purge plan (dry run, limit {plan.policy.max_age_days} days): {len(plan.deletions)} to delete, "
        f"{len(plan.keepers)} to keep, freeing {freed}"
    )


def oplog_plan_line(plan: PurgePlan) -> str:
    """The oplog's part of a purge plan, in one line."""
    from engine.pitr.store import timestamp_time

    if not plan.chunks:
        return f"keep   oplog: all {plan.chunks_kept} chunks (kept archives replay from them)"
    size = humanize.naturalsize(sum(ref.size for ref in plan.chunks), binary=True)
    return (
        f"delete oplog: {len(plan.chunks)} chunks ({size}) up to "
        f"{timestamp_time(plan.chunks[-1].last):%Y-%m-%d %H:%M} UTC, which no kept archive replays; "
        f"keep {plan.chunks_kept}"
    )


def short_age(age: timedelta) -> str:
    """An exact, short age: 16d (never "a month ago" for 16 days), 5h, 12m."""
    if age.days:
        return f"{age.days}d"
    hours = age.seconds // 3600
    return f"{hours}h" if hours else f"{age.seconds // 60}m"


def gaps_text(count: int) -> str:
    """"1 gap", "2 gaps": how many gaps the captured oplog has."""
    return f"{count} gap{'' if count == 1 else 's'}"
