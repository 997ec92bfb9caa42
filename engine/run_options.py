"""The engine's run options built from resolved Settings, in one place for every face: the CLI, the dashboard
and the restore Job build their BackupOptions, RestoreRequest, RetentionPolicy and Schedule here, so that a
setting (codec, recipients, filters, loader, workers, retention) means the same whichever face starts the run.

Each option either comes from a setting (the *_FROM_SETTINGS maps) or is chosen per run (the *_PER_RUN sets);
tests/test_settings.py fails when an option is added to neither."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.common.config import Settings
from engine.common.namespaces import NamespaceFilter
from engine.sla.compliance import Schedule
from engine.sla.retention import RetentionPolicy

if TYPE_CHECKING:
    from engine.backup.run import BackupOptions
    from engine.restore.request import RestoreRequest

# option → the setting it comes from
BACKUP_FROM_SETTINGS = {
    "codec": "codec",
    "dumper": "dumper",
    "parallel": "parallel",
    "connect_timeout": "connect_timeout",
    "recipients": "age_recipients",
}
BACKUP_PER_RUN = {"namespaces", "spool_dir", "read_back"}  # namespaces: the db/ns settings, plus a flag
RESTORE_FROM_SETTINGS = {
    "loader": "loader",
    "parallel": "parallel",
    "insert_workers": "insert_workers",
    "wait_ready_seconds": "wait_ready",
    "rto_seconds": "rto_seconds",
}
RESTORE_PER_RUN = {
    "latest",
    "to_time",
    "across_restores",
    "archive",
    "day",
    "namespaces",
    "renames",
    "mode",
    "dry_run",
    "indexes",
    "keep_index_specs",
    "two_pass",
}


def namespace_filter(settings: Settings, system_databases: bool = False) -> NamespaceFilter:
    return NamespaceFilter(
        databases=settings.db,
        include=settings.ns_include,
        exclude=settings.ns_exclude,
        system_databases=system_databases,
    )


def _mapped(settings: Settings, mapping: dict[str, str]) -> dict[str, Any]:
    return {option: getattr(settings, setting) for option, setting in mapping.items()}


def backup_options(
    settings: Settings, *, system_databases: bool = False, spool_dir: Path | None = None, read_back: bool = True
) -> BackupOptions:
    from engine.backup.run import BackupOptions

    options = BackupOptions(
        namespaces=namespace_filter(settings, system_databases),
        spool_dir=spool_dir,
        read_back=read_back,
        **_mapped(settings, BACKUP_FROM_SETTINGS),
    )
    options.validate()
    return options


def restore_request(settings: Settings, **per_run: Any) -> RestoreRequest:
    """A restore request: the settings' loader, workers, wait and RTO, and what this run chose (`per_run`,
    names of RESTORE_PER_RUN); namespaces default to the settings' db/ns filters."""
    from engine.restore.request import RestoreRequest

    if unknown := set(per_run) - RESTORE_PER_RUN:
        raise TypeError(f"not per-run restore options: {sorted(unknown)}")
    per_run.setdefault("namespaces", namespace_filter(settings))
    return RestoreRequest(**per_run, **_mapped(settings, RESTORE_FROM_SETTINGS))


def retention_policy(settings: Settings) -> RetentionPolicy:
    policy = RetentionPolicy(settings.max_age_days, settings.keep_last)
    policy.validate()
    return policy


def schedule(settings: Settings) -> Schedule:
    chosen = Schedule(settings.schedule, settings.timezone)
    chosen.validate()
    return chosen


def unmapped_options(option_type: type, mapped: dict[str, str], per_run: set[str]) -> set[str]:
    """Options of `option_type` that neither come from a setting nor are chosen per run (must be none)."""
    return {item.name for item in fields(option_type)} - set(mapped) - per_run
