"""Opens the dashboard: the resolved settings (flags, VAULTUI_* variables, settings file), then
`make_app(...).run()`."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.common.config import Settings, drill_uri, saved_targets, source_uri
from engine.common.errors import ConfigError
from engine.run_options import retention_policy, schedule
from vaultui.settings import VIEWS, AppSettings, FleetSettings


def settings_from(arguments: argparse.Namespace) -> AppSettings:
    settings: Settings = arguments.settings
    if not settings.storage:
        raise ConfigError("no storage: pass --storage URL or set VAULTUI_STORAGE")
    view = arguments.view or "archives"
    if view not in VIEWS:
        raise ConfigError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    return AppSettings(
        storage_url=settings.storage,
        source_uri=source_uri(),
        targets=saved_targets(),
        drill_uri=drill_uri(),
        schedule=schedule(settings),
        policy=retention_policy(settings),
        window_days=settings.window_days,
        target_percent=settings.target_percent,
        rto_seconds=settings.rto_seconds,
        refresh_seconds=settings.refresh,
        readonly=arguments.readonly,
        start_view=view,
        kube_context=arguments.context,
        kube_namespace=arguments.namespace,
        resolved=settings,
    )


def fleet_from(arguments: argparse.Namespace) -> FleetSettings | None:
    """The fleet to open on (--fleet, VAULTUI_FLEET or the settings file's `fleet`), None without one."""
    settings: Settings = arguments.settings
    if not settings.fleet:
        return None
    if arguments.dashboard_storage:
        raise ConfigError("give either --fleet or --storage: a fleet file names each deployment's storage")
    from engine.fleet.file import load_fleet

    base = AppSettings(
        storage_url="",
        refresh_seconds=settings.refresh,
        readonly=arguments.readonly,
        kube_context=arguments.context,
        kube_namespace=arguments.namespace,
        resolved=settings,
    )
    return FleetSettings(load_fleet(Path(settings.fleet), settings), base, deadline=settings.fleet_deadline)


def open_dashboard(arguments: argparse.Namespace) -> int:
    from vaultui.app import make_app

    fleet = fleet_from(arguments)
    app = make_app(fleet.base, fleet) if fleet is not None else make_app(settings_from(arguments))
    if arguments.theme:
        app.theme = arguments.theme
    app.run()
    return int(app.return_code or 0)
