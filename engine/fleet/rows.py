"""One row per deployment: its SLA figures in a few fields and one state, worst first. A row is loaded from
the deployment's storage (through the same listing and local ledger cache as `status`) on a thread of its
own with a deadline, so a storage that hangs costs its own row a "no answer" and never the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum

from engine.common.errors import VaultError
from engine.common.redact import redact_uri
from engine.common.states import ArchiveState, RunKind
from engine.fleet.deadline import NoAnswer, call_within
from engine.fleet.file import Deployment
from engine.run_options import retention_policy, schedule
from engine.sla.rto import recovery_met
from engine.sla.status import StatusSummary, summarize

DRILL_OVERDUE_DAYS = 35  # as the VaultuiDrillOverdue alert: a monthly drill, a few days' slack
ROW_DEADLINE_SECONDS = 15.0  # a storage that has not answered by then shows as not answering
FORECAST_SOON_DAYS = 14  # as VaultuiRtoForecastSoon


class RowState(IntEnum):
    """A row's state; the lower, the worse (rows sort by it). Each has a word, so no colour is needed."""

    FAILING = 0  # an SLA target is broken now
    DOWN = 1  # its storage did not answer: nothing is known
    AT_RISK = 2  # the SLA holds, but something will break it (no drill, an unverified archive, a forecast)
    LOADING = 3
    OK = 4

    @property
    def word(self) -> str:
        return {0: "FAILING", 1: "DOWN", 2: "AT RISK", 3: "loading", 4: "OK"}[int(self)]


@dataclass(frozen=True)
class FleetRow:
    name: str
    storage: str  # the URL without secrets
    state: RowState
    namespace: str = ""
    compliance_percent: float | None = None
    target_percent: float = 0.0
    rpo_seconds: float | None = None
    rpo_limit: float | None = None
    last_success: datetime | None = None
    newest_archive: str | None = None
    newest_state: ArchiveState | None = None
    recovery_seconds: float | None = None  # the newest restore or drill, else the forecast
    recovery_source: str = ""  # restore | drill | forecast | ''
    recovery_met: bool | None = None  # within the RTO it ran under (a failed restore never is)
    rto_seconds: float = 0.0
    alerts: tuple[str, ...] = ()
    error: str = ""
    loaded_seconds: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "deployment": self.name,
            "namespace": self.namespace,
            "storage": self.storage,
            "state": self.state.word,
            "compliance_percent": None if self.compliance_percent is None else round(self.compliance_percent, 2),
            "target_percent": self.target_percent,
            "rpo_seconds": self.rpo_seconds,
            "rpo_limit_seconds": self.rpo_limit,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "newest_archive": self.newest_archive,
            "newest_state": self.newest_state.value if self.newest_state else None,
            "recovery_seconds": None if self.recovery_seconds is None else round(self.recovery_seconds, 1),
            "recovery_source": self.recovery_source or None,
            "recovery_met": self.recovery_met,
            "rto_seconds": self.rto_seconds,
            "alerts": list(self.alerts),
            "error": self.error or None,
        }


def waiting_row(deployment: Deployment) -> FleetRow:
    """The row before its storage answered."""
    return FleetRow(
        deployment.name,
        redact_uri(deployment.settings.storage),
        RowState.LOADING,
        namespace=deployment.kube_namespace or "",
        target_percent=deployment.settings.target_percent,
        rto_seconds=deployment.settings.rto_seconds,
    )


def summary_of(deployment: Deployment, now: datetime) -> StatusSummary:
    """The deployment's status summary, as `status --storage …` with its settings would compute it."""
    settings = deployment.settings
    storage = deployment.open_storage()
    return summarize(
        storage,
        now,
        schedule=schedule(settings),
        policy=retention_policy(settings),
        window_days=settings.window_days,
        target_percent=settings.target_percent,
        rto_seconds=settings.rto_seconds,
        rpo_seconds=settings.rpo_seconds or None,
    )


def row_from_summary(deployment: Deployment, summary: StatusSummary) -> FleetRow:
    now = summary.now
    compliance = summary.compliance
    alerts: list[str] = []
    failing = False
    if compliance.stale:
        alerts.append("missed slot" + (f" {compliance.missed[-1].start:%m-%d %H:%M}" if compliance.missed else ""))
        failing = True
    if compliance.below_target:
        alerts.append("below target")
        failing = True
    if summary.rpo_exceeded:
        alerts.append("RPO exceeded")
        failing = True
    if summary.ledger is not None and not summary.ledger.intact:
        alerts.append("ledger broken")
        failing = True
    newest = summary.newest
    newest_state = summary.state(newest) if newest is not None else None
    if newest is None:
        alerts.append("no archive")
        failing = True
    elif newest_state == ArchiveState.CORRUPT:
        alerts.append("newest corrupt")
        failing = True
    recovery_seconds, source, met = _recovery(summary)
    if met is False:
        alerts.append(f"{source} over RTO")
        failing = True
    risky = False
    drill = summary.last(RunKind.DRILL)
    if drill is None or now - _started(drill.started_at, now) > timedelta(days=DRILL_OVERDUE_DAYS):
        alerts.append("drill overdue" if drill is not None else "never drilled")
        risky = True
    if newest_state in (ArchiveState.COMPLETE, ArchiveState.LEGACY, ArchiveState.INCOMPLETE):
        assert newest_state is not None
        alerts.append(f"newest {newest_state.value}")
        risky = True
    forecast = summary.forecast
    if forecast is not None and forecast.days_to_rto is not None and forecast.days_to_rto < FORECAST_SOON_DAYS:
        alerts.append(f"RTO in {forecast.days_to_rto:.0f} d")
        risky = True
    if summary.interrupted_restores:
        alerts.append("restore interrupted")
        risky = True
    state = RowState.FAILING if failing else RowState.AT_RISK if risky else RowState.OK
    return FleetRow(
        deployment.name,
        redact_uri(deployment.settings.storage),
        state,
        namespace=deployment.kube_namespace or "",
        compliance_percent=compliance.percent,
        target_percent=compliance.target_percent,
        rpo_seconds=summary.rpo_seconds,
        rpo_limit=summary.rpo_limit,
        last_success=compliance.last_success,
        newest_archive=newest.name if newest else None,
        newest_state=newest_state,
        recovery_seconds=recovery_seconds,
        recovery_source=source,
        recovery_met=met,
        rto_seconds=summary.rto_seconds,
        alerts=tuple(alerts),
    )


def _recovery(summary: StatusSummary) -> tuple[float | None, str, bool | None]:
    """The newest measured recovery (restore or drill, whichever ran last) and whether it met its RTO, else the
    forecast for the newest archive."""
    measured = [run for run in (summary.last(RunKind.RESTORE), summary.last(RunKind.DRILL)) if run is not None]
    if measured:
        newest = max(measured, key=lambda run: run.started_at)
        return float(newest.duration_seconds), str(newest.kind), recovery_met(newest, summary.rto_seconds)
    if summary.forecast is not None:
        expected = float(summary.forecast.expected_seconds)
        return expected, "forecast", expected <= summary.rto_seconds
    return None, "", None


def _started(text: str, now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return now - timedelta(days=DRILL_OVERDUE_DAYS + 1)  # an unreadable time counts as long ago


def down_row(deployment: Deployment, error: str, seconds: float | None = None) -> FleetRow:
    return replace(
        waiting_row(deployment), state=RowState.DOWN, error=error, loaded_seconds=seconds, alerts=("storage down",)
    )


def load_row(
    deployment: Deployment,
    now: datetime,
    deadline: float = ROW_DEADLINE_SECONDS,
    summarizer: Callable[[Deployment, datetime], StatusSummary] = summary_of,
) -> FleetRow:
    """The deployment's row within `deadline` seconds; a storage that fails or does not answer makes it DOWN."""
    started = time.monotonic()
    try:
        row = call_within(
            lambda: row_from_summary(deployment, summarizer(deployment, now)),
            deadline,
            f"vaultui-fleet-{deployment.name}",
        )
    except NoAnswer:
        return down_row(deployment, f"its storage did not answer within {deadline:.0f} s", deadline)
    except VaultError as error:
        row = down_row(deployment, str(error))
    return replace(row, loaded_seconds=time.monotonic() - started)


def load_rows(deployments: list[Deployment], now: datetime, deadline: float = ROW_DEADLINE_SECONDS) -> list[FleetRow]:
    """Every row at once (one thread each), worst first; the whole takes at most about one deadline."""
    rows: dict[str, FleetRow] = {}
    threads = []
    for deployment in deployments:

        def one(deployment: Deployment = deployment) -> None:
            rows[deployment.name] = load_row(deployment, now, deadline)

        thread = threading.Thread(target=one, daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return worst_first([rows[deployment.name] for deployment in deployments])


def worst_first(rows: list[FleetRow]) -> list[FleetRow]:
    """By state (failing first), then by compliance (lowest first; unknown before known), then by name."""
    return sorted(
        rows,
        key=lambda row: (
            row.state,
            -1.0 if row.compliance_percent is None else row.compliance_percent,
            row.name,
        ),
    )


@dataclass
class FleetTotals:
    """The fleet in one line: how many rows in each state."""

    counts: dict[RowState, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[FleetRow]) -> FleetTotals:
        counts: dict[RowState, int] = {}
        for row in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return cls(counts)

    def describe(self) -> str:
        return ", ".join(f"{count} {state.word}" for state, count in sorted(self.counts.items()))
