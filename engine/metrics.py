"""Prometheus metrics from the storage's state, for the node-exporter textfile collector or a Pushgateway."""

from __future__ import annotations

from collections import Counter as Tally
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, push_to_gateway, write_to_textfile

from engine.errors import ConfigError
from engine.status import StatusSummary


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
    for kind in ("backup", "restore", "drill", "purge"):
        if (run := summary.last(kind)) is not None:
            duration.labels(kind).set(run.duration_seconds)
    Gauge("vaultui_archive_bytes", "Size of the newest archive", registry=registry).set(
        summary.newest.size if summary.newest else 0
    )
    Gauge("vaultui_archives_bytes_total", "Size of all archives", registry=registry).set(summary.total_bytes)
    Gauge("vaultui_archives", "Number of archives", registry=registry).set(len(summary.archives))
    ratio = Gauge("vaultui_compliance_ratio", "Met backup slots / expected slots over the window", registry=registry)
    ratio.set((summary.compliance.percent if summary.compliance.percent is not None else 100.0) / 100)
    Gauge("vaultui_compliance_target_ratio", "The compliance target", registry=registry).set(
        summary.compliance.target_percent / 100
    )
    Gauge("vaultui_rto_seconds", "The recovery-time objective", registry=registry).set(summary.rto_seconds)
    runs = Counter("vaultui_runs", "Runs in the ledger by kind and result", ["kind", "result"], registry=registry)
    for (kind, result), count in Tally((run.kind, run.result) for run in summary.runs).items():
        runs.labels(kind, result).inc(count)
    return registry


def publish(summary: StatusSummary, *, metrics_file: Path | None = None, pushgateway: str | None = None) -> None:
    registry = build_registry(summary)
    if metrics_file is not None:
        try:
            write_to_textfile(str(metrics_file), registry)
        except OSError as error:
            raise ConfigError(f"cannot write the metrics file {metrics_file}: {error.strerror or error}") from None
    if pushgateway:
        try:
            push_to_gateway(pushgateway, job="vaultui", registry=registry, timeout=10)
        except OSError as error:
            raise ConfigError(f"cannot push metrics to {pushgateway}: {error}") from None
