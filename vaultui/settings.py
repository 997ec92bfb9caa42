"""The dashboard's settings: one object built from flags and VAULTUI_* variables, handed to `make_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.common.clock import Clock, utc_now
from engine.common.config import DEFAULT_TARGET_PERCENT, DEFAULT_WINDOW_DAYS, Settings
from engine.common.redact import redact_uri
from engine.sla.compliance import Schedule
from engine.sla.retention import RetentionPolicy
from engine.sla.rto import DEFAULT_RTO_SECONDS

VIEWS = ("archives", "runs", "compliance", "purge")


@dataclass(frozen=True)
class AppSettings:
    storage_url: str
    source_uri: str = ""  # what "backup now" dumps (VAULTUI_MONGO_URI)
    targets: dict[str, str] = field(default_factory=dict)  # saved restore targets: name → URI
    drill_uri: str = ""
    schedule: Schedule = field(default_factory=Schedule)
    policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    window_days: int = DEFAULT_WINDOW_DAYS
    target_percent: float = DEFAULT_TARGET_PERCENT
    rto_seconds: float = DEFAULT_RTO_SECONDS
    refresh_seconds: float = 30.0
    readonly: bool = False
    start_view: str = "archives"
    kube_context: str | None = None
    kube_namespace: str | None = None
    clock: Clock = utc_now
    # Everything resolved (flags, VAULTUI_*, settings file): the dashboard's runs take their options from it
    # through engine.run_options, as the CLI's do.
    resolved: Settings = field(default_factory=Settings)

    def target_label(self, name: str) -> str:
        return f"{name}  ({redact_uri(self.targets[name])})"
