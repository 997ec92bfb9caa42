"""The dashboard's settings: one object built from flags and VAULTUI_* variables, handed to `make_app`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from engine.common.clock import Clock, utc_now
from engine.common.config import DEFAULT_TARGET_PERCENT, DEFAULT_WINDOW_DAYS, Settings
from engine.common.redact import redact_uri
from engine.sla.compliance import Schedule
from engine.sla.retention import RetentionPolicy
from engine.sla.rto import DEFAULT_RTO_SECONDS

if TYPE_CHECKING:
    from engine.fleet.file import Deployment, Fleet

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
    storage_credentials: dict[str, str] = field(default_factory=dict)  # a fleet deployment's own S3 keys
    deployment: str = ""  # the fleet deployment shown ('' without a fleet)

    def target_label(self, name: str) -> str:
        return f"{name}  ({redact_uri(self.targets[name])})"


@dataclass(frozen=True)
class FleetSettings:
    """The fleet the dashboard opens on, and the face's own settings each deployment's dashboard keeps."""

    fleet: Fleet
    base: AppSettings  # read-only, refresh, clock: the face's, whatever the deployment
    deadline: float = 15.0  # seconds a deployment's storage has to answer its row

    def for_deployment(self, deployment: Deployment) -> tuple[AppSettings, list[str]]:
        """The deployment's dashboard settings, and the secrets that could not be read (said, not fatal: the
        dashboard still browses; the action that needs one says so)."""
        from engine.common.errors import ConfigError
        from engine.fleet.file import S3_KEYS
        from engine.run_options import retention_policy, schedule

        problems: list[str] = []

        def secret(key: str) -> str:
            try:
                return deployment.secret(key)
            except ConfigError as error:
                problems.append(str(error))
                return ""

        targets: dict[str, str] = {}
        for name, source in deployment.targets.items():
            try:
                targets[name] = source.read(f"restore target {name} of {deployment.name}")
            except ConfigError as error:
                problems.append(str(error))
        settings = deployment.settings
        credentials: dict[str, str] = {
            key: value for key in S3_KEYS if key in deployment.secrets and (value := secret(key))
        }
        return (
            replace(
                self.base,
                storage_url=settings.storage,
                source_uri=secret("mongo_uri"),
                targets=targets,
                drill_uri=secret("drill_uri"),
                schedule=schedule(settings),
                policy=retention_policy(settings),
                window_days=settings.window_days,
                target_percent=settings.target_percent,
                rto_seconds=settings.rto_seconds,
                kube_context=deployment.kube_context or self.base.kube_context,
                kube_namespace=deployment.kube_namespace or self.base.kube_namespace,
                resolved=settings,
                storage_credentials=credentials,
                deployment=deployment.name,
                start_view="archives",
            ),
            problems,
        )
