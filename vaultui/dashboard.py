"""Opens the dashboard: settings from flags and VAULTUI_* variables, then `make_app(...).run()`."""

from __future__ import annotations

import argparse
import os

from engine.compliance import DEFAULT_SCHEDULE, DEFAULT_TARGET_PERCENT, DEFAULT_WINDOW_DAYS, Schedule
from engine.config import setting
from engine.errors import ConfigError
from engine.retention import DEFAULT_MAX_AGE_DAYS, RetentionPolicy
from engine.rto import DEFAULT_RTO_SECONDS
from vaultui.settings import VIEWS, AppSettings, targets_from_env


def settings_from(arguments: argparse.Namespace) -> AppSettings:
    storage = setting(arguments.dashboard_storage, "storage", "", str)
    if not storage:
        raise ConfigError("no storage: pass --storage URL or set VAULTUI_STORAGE")
    view = arguments.view or "archives"
    if view not in VIEWS:
        raise ConfigError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    targets = targets_from_env()
    schedule = Schedule(setting(None, "schedule", DEFAULT_SCHEDULE, str), setting(None, "timezone", "UTC", str))
    schedule.validate()
    return AppSettings(
        storage_url=storage,
        source_uri=os.environ.get("VAULTUI_MONGO_URI", ""),
        targets=targets,
        drill_uri=os.environ.get("VAULTUI_DRILL_URI", "") or os.environ.get("VAULTUI_TARGET_URI", ""),
        schedule=schedule,
        policy=RetentionPolicy(
            setting(None, "max_age_days", DEFAULT_MAX_AGE_DAYS, int), setting(None, "keep_last", 0, int)
        ),
        window_days=setting(None, "window_days", DEFAULT_WINDOW_DAYS, int),
        target_percent=setting(None, "target_percent", DEFAULT_TARGET_PERCENT, float),
        rto_seconds=setting(None, "rto_seconds", float(DEFAULT_RTO_SECONDS), float),
        refresh_seconds=setting(arguments.refresh, "refresh", 30.0, float),
        readonly=arguments.readonly,
        start_view=view,
        kube_context=arguments.context,
        kube_namespace=arguments.namespace,
    )


def open_dashboard(arguments: argparse.Namespace) -> int:
    from vaultui.app import make_app

    app = make_app(settings_from(arguments))
    if arguments.theme:
        app.theme = arguments.theme
    app.run()
    return int(app.return_code or 0)
