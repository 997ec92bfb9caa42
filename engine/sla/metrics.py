"""Prometheus metrics from the storage's state, for the node-exporter textfile collector or a Pushgateway.

Every series carries the labels that tell deployments apart (`deployment`, `namespace`, `storage`), so one
Prometheus serves many; a Pushgateway groups each deployment's series under its own key, so two deployments
never overwrite each other. Times are exported as timestamps, not ages: when runs stop altogether, the ages the
alerting rules compute from them (`time() - …`) keep growing in Prometheus, which is what a silent CronJob needs.
The rules in k8s/components/monitoring/ read these names; tests/test_alerting.py keeps the two in step."""

from __future__ import annotations

import os
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from engine.common.errors import ConfigError
from engine.common.redact import redact_uri
from engine.common.states import ArchiveState, RunKind, RunResult
from engine.sla.compliance import Schedule
from engine.sla.status import StatusSummary

IDENTITY = ("deployment", "namespace", "storage")
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
NAN = float("nan")


@dataclass(frozen=True)
class MetricLabels:
    """What tells one deployment's series from another's."""

    deployment: str
    namespace: str
    storage: str

    @classmethod
    def of(cls, storage_url: str, deployment: str = "", namespace: str = "") -> MetricLabels:
        """From the settings: `deployment` defaults to the storage's last path part (the PVC folder or the
        bucket prefix), `namespace` to the pod's own namespace (empty outside Kubernetes)."""
        shown = redact_uri(storage_url)
        if not deployment:
            deployment = shown.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "default"
        if not namespace and os.path.exists(SERVICE_ACCOUNT_NAMESPACE):
            namespace = Path(SERVICE_ACCOUNT_NAMESPACE).read_text().strip()
        return cls(deployment, namespace, shown)

    def values(self) -> dict[str, str]:
        return {"deployment": self.deployment, "namespace": self.namespace, "storage": self.storage}

    def grouping_key(self) -> dict[str, str]:
        """The Pushgateway group of this deployment's series (a push replaces only its own group)."""
        return {"deployment": self.deployment, "namespace": self.namespace}


class _Metrics:
    """Gauges that all carry the deployment's labels."""

    def __init__(self, labels: MetricLabels) -> None:
        self.registry = CollectorRegistry()
        self.identity = labels.values()
        self.gauges: dict[str, Gauge] = {}

    def gauge(self, name: str, documentation: str, value: float | None = None, **labels: str) -> Gauge:
        """The gauge `name` set to `value` for these extra labels (None: the series is left out)."""
        gauge = self.gauges.get(name)
        if gauge is None:
            gauge = self.gauges[name] = Gauge(name, documentation, [*IDENTITY, *labels], registry=self.registry)
        if value is not None:
            gauge.labels(**self.identity, **labels).set(value)
        return gauge


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _or_nan(value: float | None) -> float:
    return NAN if value is None else value


def schedule_interval(schedule: Schedule, now: datetime, slots: int = 32) -> float:
    """The longest time between two of the next scheduled backups: how long a deployment may go without a
    success before a slot was surely missed (a 6-hourly schedule gives 6 h, a nightly one 24 h, weekdays-only
    the weekend's 72 h)."""
    times = [schedule.next_after(now)]
    for _ in range(slots):
        times.append(schedule.next_after(times[-1]))
    return max((later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False))


def build_registry(
    summary: StatusSummary, labels: MetricLabels, schedule: Schedule, grace_seconds: float
) -> CollectorRegistry:
    metrics = _Metrics(labels)
    gauge = metrics.gauge
    compliance = summary.compliance
    # Left out, not 0, until a backup succeeded: a fresh install is "no data", not 56 years overdue.
    succeeded = next((run for run in summary.runs if run.kind == RunKind.BACKUP and run.succeeded), None)
    gauge(
        "vaultui_last_success_timestamp_seconds",
        "Start of the newest successful backup (the archive it made)",
        _timestamp(compliance.last_success),
        archive=succeeded.archive or "" if succeeded else "",
    )
    gauge(
        "vaultui_schedule_interval_seconds",
        "Longest time between two scheduled backups",
        schedule_interval(schedule, summary.now),
    )
    gauge(
        "vaultui_backup_grace_seconds",
        "How late a backup may succeed before its slot counts as missed",
        grace_seconds,
    )
    for kind in (RunKind.BACKUP, RunKind.RESTORE, RunKind.DRILL, RunKind.PURGE, RunKind.VERIFY):
        run = summary.last(kind)
        gauge("vaultui_last_run_duration_seconds", "Duration of the newest run of each kind", None, kind=kind)
        gauge("vaultui_last_run_timestamp_seconds", "Start of the newest run of each kind", None, kind=kind)
        gauge("vaultui_last_run_success", "1 when the newest run of the kind succeeded, else 0", None, kind=kind)
        if run is None:
            continue
        gauge("vaultui_last_run_duration_seconds", "", run.duration_seconds, kind=kind)
        gauge("vaultui_last_run_timestamp_seconds", "", run.started.timestamp(), kind=kind)
        gauge("vaultui_last_run_success", "", 1.0 if run.result != RunResult.FAILURE else 0.0, kind=kind)
    newest = summary.newest
    gauge("vaultui_archive_bytes", "Size of the newest archive", newest.size if newest else 0)
    gauge("vaultui_archives_bytes_total", "Size of all archives", summary.total_bytes)
    gauge("vaultui_archives", "Number of archives", len(summary.archives))
    gauge("vaultui_newest_archive_timestamp_seconds", "Time the newest archive is named for", None, archive="")
    gauge("vaultui_newest_archive_state", "1 for the newest archive's state", None, archive="", state="")
    if newest is not None:
        state = summary.state(newest)
        gauge("vaultui_newest_archive_timestamp_seconds", "", newest.ref.time.timestamp(), archive=newest.name)
        for each in ArchiveState:
            gauge("vaultui_newest_archive_state", "", 1.0 if each == state else 0.0, archive=newest.name, state=each)
    # NaN for "no data" (no slot expected yet): never 100 %, and no comparison in a rule is true for it.
    percent = compliance.percent
    gauge(
        "vaultui_compliance_ratio",
        "Met backup slots / expected slots over the window (NaN: no slot expected yet, no data)",
        NAN if percent is None else percent / 100,
    )
    gauge("vaultui_compliance_slots", "Backup slots in the window by outcome", compliance.expected, outcome="expected")
    gauge("vaultui_compliance_slots", "", compliance.met, outcome="met")
    gauge("vaultui_compliance_target_ratio", "The compliance target", compliance.target_percent / 100)
    ledger = summary.ledger
    gauge(
        "vaultui_ledger_intact",
        "1 when the ledger's chain of signed records checks out, 0 when a record is missing or forged",
        NAN if ledger is None else float(ledger.intact),
    )
    gauge("vaultui_rto_seconds", "The recovery-time objective", summary.rto_seconds)
    # A gauge, not a counter: it counts the recent records a status reads (the window's backups, the newest
    # other runs), which can go down as records age out; a counter must only ever go up.
    gauge("vaultui_recent_runs", "Recent ledger runs (the status window) by kind and result", None, kind="", result="")
    for (run_kind, result), count in Tally((run.kind, str(run.result)) for run in summary.runs).items():
        gauge("vaultui_recent_runs", "", count, kind=run_kind, result=result)
    restore = summary.last(RunKind.RESTORE)
    gauge(
        "vaultui_restore_duration_seconds",
        "Duration of the newest real restore",
        restore.duration_seconds if restore else NAN,
    )
    forecast = summary.forecast
    gauge(
        "vaultui_restore_forecast_seconds",
        "Expected restore time of the newest good archive, fitted on restores and drills (NaN: none measured)",
        forecast.expected_seconds if forecast else NAN,
    )
    gauge(
        "vaultui_rto_forecast_days",
        "Days until restores pass the RTO at the current archive growth (NaN: not growing or unknown)",
        _or_nan(forecast.days_to_rto if forecast else None),
    )
    coverage = summary.coverage
    gauge(
        "vaultui_rpo_seconds",
        "Time since the newest second a restore can reach (NaN: none)",
        _or_nan(summary.rpo_seconds),
    )
    gauge(
        "vaultui_rpo_threshold_seconds",
        "The recovery-point threshold in force (NaN: none)",
        _or_nan(summary.rpo_limit),
    )
    gauge(
        "vaultui_restorable_ratio",
        "Share of the compliance window restorable to the second",
        summary.restorable_share,
    )
    # Seen from the storage, the capture's lag is how old its newest committed entry is.
    gauge(
        "vaultui_oplog_lag_seconds",
        "Age of the newest captured oplog entry (NaN: no capture)",
        (summary.now - coverage.segments[-1].end).total_seconds() if coverage.capturing else NAN,
    )
    gauge(
        "vaultui_oplog_newest_entry_timestamp_seconds",
        "Time of the newest captured oplog entry",
        coverage.segments[-1].end.timestamp() if coverage.capturing else None,
    )
    gauge("vaultui_oplog_bytes", "Size of the captured oplog chunks", coverage.bytes)
    gauge("vaultui_oplog_chunks", "Captured oplog chunks", coverage.chunks)
    gauge("vaultui_oplog_gaps", "Recorded holes in the captured oplog", len(coverage.gaps))
    gauge("vaultui_unfinished_writes", "Writes of killed (or running) runs not yet cleaned up", len(summary.unfinished))
    gauge("vaultui_lease_acquired_timestamp_seconds", "When a live run took the storage lease", None, kind="")
    for lease in summary.leases:
        if not lease.expired(summary.now):
            acquired = datetime.fromisoformat(lease.acquired_at.replace("Z", "+00:00"))
            gauge("vaultui_lease_acquired_timestamp_seconds", "", acquired.timestamp(), kind=lease.kind)
    return metrics.registry


def capture_registry(
    labels: MetricLabels, now: datetime, lag: float, entries: int, written: int, gaps: int
) -> CollectorRegistry:
    """The oplog capture's own figures, after each chunk it commits (pushed as their own job)."""
    metrics = _Metrics(labels)
    metrics.gauge("vaultui_oplog_lag_seconds", "Age of the newest oplog entry committed", lag)
    metrics.gauge(
        "vaultui_oplog_newest_entry_timestamp_seconds", "Time of the newest captured oplog entry", now.timestamp() - lag
    )
    metrics.gauge("vaultui_oplog_captured_entries", "Oplog entries this capture committed", entries)
    metrics.gauge("vaultui_oplog_captured_bytes", "Bytes of oplog chunks this capture committed", written)
    metrics.gauge("vaultui_oplog_capture_gaps", "Gaps this capture found", gaps)
    return metrics.registry


def push_registry(
    registry: CollectorRegistry,
    labels: MetricLabels,
    *,
    metrics_file: Path | None = None,
    pushgateway: str | None = None,
    job: str = "vaultui",
) -> None:
    if metrics_file is not None:
        try:
            write_to_textfile(str(metrics_file), registry)
        except OSError as error:
            raise ConfigError(f"cannot write the metrics file {metrics_file}: {error.strerror or error}") from None
    if pushgateway:
        try:
            push_to_gateway(pushgateway, job=job, registry=registry, grouping_key=labels.grouping_key(), timeout=10)
        except OSError as error:
            raise ConfigError(f"cannot push metrics to {pushgateway}: {error}") from None
