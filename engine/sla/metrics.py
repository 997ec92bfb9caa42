"""Prometheus metrics from the storage's state, for the node-exporter textfile collector or a Pushgateway."""

from __future__ import annotations

from collections import Counter as Tally
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from engine.common.errors import ConfigError
from engine.common.states import RunKind
from engine.sla.status import StatusSummary


def build_registry(summary: StatusSummary) -> CollectorRegistry:
    registry = CollectorRegistry()
    last_success = Gauge(
        "vaultui_last_success_timestamp_seconds", "Start of the newest successful backup", registry=registry
    )
    if summary.compliance.last_success is not None:
        last_success.set(summary.compliance.last_success.timestamp())
    duration = Gauge(
        "vaultui_last_run_duration_seconds", "Duration of the newest run of each kind", ["kind"], registry=registry
    )
    for kind in (RunKind.BACKUP, RunKind.RESTORE, RunKind.DRILL, RunKind.PURGE):
        if (run := summary.last(kind)) is not None:
            duration.labels(kind).set(run.duration_seconds)
    Gauge("vaultui_archive_bytes", "Size of the newest archive", registry=registry).set(
        summary.newest.size if summary.newest else 0
    )
    Gauge("vaultui_archives_bytes_total", "Size of all archives", registry=registry).set(summary.total_bytes)
    Gauge("vaultui_archives", "Number of archives", registry=registry).set(len(summary.archives))
    ratio = Gauge(
        "vaultui_compliance_ratio",
        "Met backup slots / expected slots over the window (NaN: no slot expected yet, no data)",
        registry=registry,
    )
    percent = summary.compliance.percent
    ratio.set(float("nan") if percent is None else percent / 100)  # never 100 % for "no data"
    slots = Gauge("vaultui_compliance_slots", "Backup slots in the window by outcome", ["outcome"], registry=registry)
    slots.labels("expected").set(summary.compliance.expected)
    slots.labels("met").set(summary.compliance.met)
    Gauge("vaultui_compliance_target_ratio", "The compliance target", registry=registry).set(
        summary.compliance.target_percent / 100
    )
    Gauge("vaultui_rto_seconds", "The recovery-time objective", registry=registry).set(summary.rto_seconds)
    # A gauge, not a counter: it counts the recent records a status reads (the window's backups, the newest
    # other runs), which can go down as records age out; a counter must only ever go up.
    runs = Gauge(
        "vaultui_recent_runs",
        "Recent ledger runs (the status window) by kind and result",
        ["kind", "result"],
        registry=registry,
    )
    for (run_kind, result), count in Tally((run.kind, str(run.result)) for run in summary.runs).items():
        runs.labels(run_kind, result).set(count)
    restore = summary.last(RunKind.RESTORE)
    Gauge("vaultui_restore_duration_seconds", "Duration of the newest real restore", registry=registry).set(
        restore.duration_seconds if restore else float("nan")
    )
    forecast = summary.forecast
    Gauge(
        "vaultui_restore_forecast_seconds",
        "Expected restore time of the newest good archive, fitted on restores and drills (NaN: none measured)",
        registry=registry,
    ).set(forecast.expected_seconds if forecast else float("nan"))
    days = forecast.days_to_rto if forecast else None
    Gauge(
        "vaultui_rto_forecast_days",
        "Days until restores pass the RTO at the current archive growth (NaN: not growing or unknown)",
        registry=registry,
    ).set(float("nan") if days is None else days)
    coverage = summary.coverage
    rpo = summary.rpo_seconds
    Gauge("vaultui_rpo_seconds", "Time since the newest second a restore can reach (NaN: none)", registry=registry).set(
        float("nan") if rpo is None else rpo
    )
    Gauge("vaultui_rpo_threshold_seconds", "The recovery-point threshold in force (NaN: none)", registry=registry).set(
        float("nan") if summary.rpo_limit is None else summary.rpo_limit
    )
    Gauge("vaultui_restorable_ratio", "Share of the compliance window restorable to the second", registry=registry).set(
        summary.restorable_share
    )
    # Seen from the storage, the capture's lag is how old its newest committed entry is.
    Gauge(
        "vaultui_oplog_lag_seconds", "Age of the newest captured oplog entry (NaN: no capture)", registry=registry
    ).set((summary.now - coverage.segments[-1].end).total_seconds() if coverage.capturing else float("nan"))
    Gauge("vaultui_oplog_bytes", "Size of the captured oplog chunks", registry=registry).set(coverage.bytes)
    Gauge("vaultui_oplog_chunks", "Captured oplog chunks", registry=registry).set(coverage.chunks)
    Gauge("vaultui_oplog_gaps", "Recorded holes in the captured oplog", registry=registry).set(len(coverage.gaps))
    return registry


def publish(summary: StatusSummary, *, metrics_file: Path | None = None, pushgateway: str | None = None) -> None:
    push_registry(build_registry(summary), metrics_file=metrics_file, pushgateway=pushgateway)


def push_registry(
    registry: CollectorRegistry,
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
            push_to_gateway(pushgateway, job=job, registry=registry, timeout=10)
        except OSError as error:
            raise ConfigError(f"cannot push metrics to {pushgateway}: {error}") from None
