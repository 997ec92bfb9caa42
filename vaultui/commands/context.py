"""What every headless command gets besides its own options: the resolved settings, the storages it opened
(whose unreadable names are reported once when it ends), and the run options every command builds the same
way (namespaces, schedule, retention policy, RTO, the status summary, the metrics published at the end)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

from engine.common.config import Settings
from engine.common.errors import ConfigError, VaultError
from engine.common.namespaces import NamespaceFilter
from engine.run_options import namespace_filter, retention_policy
from engine.run_options import schedule as schedule_from
from engine.sla.compliance import Schedule
from engine.sla.retention import RetentionPolicy
from engine.sla.status import StatusSummary, summarize
from engine.storage import IGNORED_REASON, Storage, ignored_names, open_storage

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from engine.fleet.file import Fleet
    from engine.sla.metrics import MetricLabels


@dataclass(frozen=True)
class CommandOptions:
    """A command's own flags, typed; built from the parsed arguments, or directly by a test."""

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Self:
        return cls(**{item.name: getattr(arguments, item.name) for item in fields(cls)})


@dataclass
class Context:
    settings: Settings
    opened: list[Storage] = field(default_factory=list)

    def storage(self) -> Storage:
        storage = open_storage(self.settings.storage)
        self.opened.append(storage)
        return storage

    def name_ignored_objects(self) -> None:
        """On stderr: the objects the command's listings left out because their names are not UTF-8."""
        for name in sorted({name for storage in self.opened for name in ignored_names(storage)}):
            print(f"vaultui: WARNING: {name}: {IGNORED_REASON}", file=sys.stderr)

    def fleet(self, given: str | None, storage_typed: str | None) -> Fleet:
        """The fleet of `--fleet [FILE]` (FILE, else the fleet setting), over the settings in force."""
        from engine.fleet.file import load_fleet

        if storage_typed:
            raise ConfigError("give either --fleet or --storage: a fleet file names each deployment's storage")
        path = given or self.settings.fleet
        if not path:
            raise ConfigError("--fleet needs a FILE, or VAULTUI_FLEET (or `fleet` in the settings file) naming one")
        return load_fleet(Path(path), self.settings)

    def namespaces(self, system: bool = False) -> NamespaceFilter:
        return namespace_filter(self.settings, system)

    def schedule(self) -> Schedule:
        return schedule_from(self.settings)

    def policy(self) -> RetentionPolicy:
        return retention_policy(self.settings)

    def rto(self) -> float:
        return float(self.settings.rto_seconds)

    def summary(self, storage: Storage) -> StatusSummary:
        return summarize(
            storage,
            datetime.now(UTC),
            schedule=self.schedule(),
            policy=self.policy(),
            window_days=self.settings.window_days,
            target_percent=self.settings.target_percent,
            rto_seconds=self.rto(),
            rpo_seconds=self.settings.rpo_seconds or None,
        )

    def metric_labels(self) -> MetricLabels:
        from engine.sla.metrics import MetricLabels

        return MetricLabels.of(self.settings.storage, self.settings.deployment, self.settings.deployment_namespace)

    def push(self, registry: CollectorRegistry, job: str = "vaultui") -> None:
        """Writes the metrics file and pushes to the Pushgateway, where either is asked for."""
        from engine.sla.metrics import push_registry

        settings = self.settings
        metrics_file = Path(settings.metrics_file) if settings.metrics_file else None
        push_registry(
            registry, self.metric_labels(), metrics_file=metrics_file, pushgateway=settings.pushgateway, job=job
        )

    @contextlib.contextmanager
    def metrics_after(self, storage: Storage) -> Iterator[None]:
        """Publishes metrics when the command ends, failed or not: a failed backup is what alerts must see."""
        try:
            yield
        finally:
            if self.settings.metrics_file or self.settings.pushgateway:
                try:
                    from engine.sla.metrics import build_registry

                    registry = build_registry(
                        self.summary(storage), self.metric_labels(), self.schedule(), self.settings.backup_grace
                    )
                    self.push(registry)
                except VaultError as error:
                    print(f"vaultui: metrics not published: {error}", file=sys.stderr)
