"""One settings object for both faces: flag over VAULTUI_* variable over settings file over default, typed
parsing with one-line errors, and `--help` listing every setting."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from engine.common.config import DEFAULT_RTO_SECONDS, Settings, env_name
from engine.common.errors import ConfigError
from vaultui.cli import build_parser, typed_flags


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    file = tmp_path / "vaultui.toml"
    file.write_text('codec = "gzip"\nparallel = 8\nkeep_last = 3\ndb = ["shop", "crm"]\n')
    environ = {"VAULTUI_PARALLEL": "6", "VAULTUI_KEEP_LAST": "5"}
    settings = Settings.resolve({"keep_last": 7}, environ=environ, file=file)
    assert settings.keep_last == 7  # the flag
    assert settings.parallel == 6  # the environment
    assert settings.codec == "gzip" and settings.db == ("shop", "crm")  # the file
    assert settings.rto_seconds == DEFAULT_RTO_SECONDS  # the default


def test_the_cli_hands_typed_flags_over_and_nothing_else(tmp_path: Path) -> None:
    arguments = build_parser().parse_args(
        ["--headless", "restore", "--latest", "--rto", "120", "--insert-workers", "16", "--db", "a", "--db", "b"]
    )
    assert typed_flags(arguments) == {"rto_seconds": 120.0, "insert_workers": 16, "db": ("a", "b")}
    dashboard = build_parser().parse_args(["--storage", str(tmp_path), "--refresh", "0"])
    assert typed_flags(dashboard) == {"storage": str(tmp_path), "refresh": 0.0}


@pytest.mark.parametrize(
    ("environ", "file_text", "expected"),
    [
        ({"VAULTUI_PARALLEL": "many"}, None, "VAULTUI_PARALLEL='many' is not valid"),
        ({}, "parallel = true\n", "parallel must be a string or a number"),
        ({}, "surprise = 1\n", "unknown settings: surprise"),
        ({}, "parallel = [\n", "is not valid TOML"),
    ],
)
def test_bad_settings_are_one_line_errors(
    environ: dict[str, str], file_text: str | None, expected: str, tmp_path: Path
) -> None:
    file = None
    if file_text is not None:
        file = tmp_path / "vaultui.toml"
        file.write_text(file_text)
    with pytest.raises(ConfigError, match=expected) as raised:
        Settings.resolve({}, environ=environ, file=file)
    assert "\n" not in str(raised.value)


def test_help_lists_every_setting() -> None:
    text = build_parser().format_help()
    assert all(env_name(item.name) in text for item in fields(Settings))


# ---- one set of settings in every face (engine.run_options) ------------------------------------------------


def test_every_run_option_comes_from_a_setting_or_is_chosen_per_run() -> None:
    """A new field of BackupOptions or RestoreRequest fails here until it is mapped to a setting (or named as
    chosen per run) in engine.run_options, so no face can silently run it with its default."""
    from engine.backup.run import BackupOptions
    from engine.restore.request import RestoreRequest
    from engine.run_options import (
        BACKUP_FROM_SETTINGS,
        BACKUP_PER_RUN,
        RESTORE_FROM_SETTINGS,
        RESTORE_PER_RUN,
        unmapped_options,
    )

    assert unmapped_options(BackupOptions, BACKUP_FROM_SETTINGS, BACKUP_PER_RUN) == set()
    assert unmapped_options(RestoreRequest, RESTORE_FROM_SETTINGS, RESTORE_PER_RUN) == set()
    names = {item.name for item in fields(Settings)}
    assert set(BACKUP_FROM_SETTINGS.values()) <= names and set(RESTORE_FROM_SETTINGS.values()) <= names


def _odd_settings_file(tmp_path: Path) -> Path:
    """Every setting a run option comes from, away from its default, some of them only in the file."""
    path = tmp_path / "vaultui.toml"
    path.write_text(
        'codec = "gzip"\ndumper = "mongodump"\nparallel = 3\nconnect_timeout = 4.5\n'
        'age_recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]\n'
        'loader = "mongorestore"\ninsert_workers = 7\nwait_ready = 12\nrto_seconds = 300\n'
        'db = ["shop"]\nns_exclude = ["*.tmp"]\nmax_age_days = 30\nkeep_last = 5\n'
        'max_unpacked_gib = 2\nmongo_tools = "/opt/tools"\nlease_seconds = 90\n'
    )
    return path


def test_cli_and_dashboard_build_the_same_runs_from_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's backup options, restore request and purge policy and the dashboard's, built from one settings
    file through each face's own path, are equal field by field."""
    from dataclasses import asdict

    from engine.run_options import backup_options, restore_request
    from vaultui.commands import restore
    from vaultui.commands.context import Context
    from vaultui.dashboard import settings_from

    monkeypatch.setenv("VAULTUI_STORAGE", str(tmp_path))
    file = _odd_settings_file(tmp_path)
    parser = build_parser()
    cli = parser.parse_args(["--headless", "--config", str(file), "restore", "--latest"])
    cli.settings = Settings.resolve(typed_flags(cli), file=cli.config)
    dashboard_arguments = parser.parse_args(["--config", str(file)])
    dashboard_arguments.settings = Settings.resolve(typed_flags(dashboard_arguments), file=dashboard_arguments.config)
    dashboard = settings_from(dashboard_arguments)

    cli_request = restore._request_from_flags(restore.Options.from_arguments(cli), Context(cli.settings))
    screen_request = restore_request(dashboard.resolved, latest=True)  # what RestoreScreen.request builds
    assert asdict(cli_request) == asdict(screen_request)
    assert (cli_request.loader, cli_request.insert_workers, cli_request.parallel) == ("mongorestore", 7, 3)
    assert cli_request.namespaces.databases == ("shop",) and cli_request.rto_seconds == 300

    cli_backup = backup_options(cli.settings, read_back=True)
    assert asdict(cli_backup) == asdict(backup_options(dashboard.resolved))
    assert cli_backup.codec == "gzip" and cli_backup.recipients and cli_backup.namespaces.exclude == ("*.tmp",)

    assert Context(cli.settings).policy() == dashboard.policy
    assert (dashboard.policy.max_age_days, dashboard.policy.keep_last) == (30, 5)


def test_engine_knobs_follow_the_settings_in_force_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unpack ceiling, the tools folder, the lease length and the age identity come from what the face
    resolved (here a settings file), never from the engine reading VAULTUI_* itself."""
    from engine.archive import encryption
    from engine.common import config, limits
    from engine.evidence import lease

    monkeypatch.setenv("VAULTUI_MAX_UNPACKED_GIB", "99")  # never read by the engine: the face resolved 2
    settings = Settings.resolve({}, environ={}, file=_odd_settings_file(tmp_path))
    previous = config.in_force()
    monkeypatch.setattr(encryption.IDENTITIES, "path", None)
    try:
        config.put_in_force(settings)
        assert limits.unpacked_ceiling() == 2 * 1024**3
        assert lease.lease_seconds() == 90
        config.put_in_force(Settings(age_identity_file="/keys/id.txt"))
        assert encryption.IDENTITIES.current_path() == "/keys/id.txt"
    finally:
        config.put_in_force(previous)


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_all_actions(child))
        else:
            found.append(action)
    return found


def test_a_setting_is_read_from_one_flag_only() -> None:
    """typed_flags reads a setting from its argparse destination: a flag of another meaning with that same
    destination (the dashboard's Kubernetes `--namespace` once landed on the metrics' namespace) would be taken
    for the setting. Every destination a setting is read from must belong to one flag, whatever the command."""
    from vaultui.cli import _FLAG_DESTINATIONS

    read_from: set[str] = set()
    for item in fields(Settings):
        destinations = _FLAG_DESTINATIONS.get(item.name, item.name)
        read_from.update((destinations,) if isinstance(destinations, str) else destinations)
    flags_by_destination: dict[str, set[tuple[str, ...]]] = {}
    for action in _all_actions(build_parser()):
        if action.dest in read_from and action.option_strings:
            flags_by_destination.setdefault(action.dest, set()).add(tuple(sorted(action.option_strings)))
    shared = {dest: flags for dest, flags in flags_by_destination.items() if len(flags) > 1}
    assert shared == {}, f"destinations read as settings by more than one flag: {shared}"


def test_the_dashboards_kubernetes_namespace_is_not_the_metrics_namespace() -> None:
    arguments = build_parser().parse_args(["--namespace", "shop"])
    assert "deployment_namespace" not in typed_flags(arguments)
    typed = typed_flags(build_parser().parse_args(["--headless", "backup", "--deployment-namespace", "shop"]))
    assert typed["deployment_namespace"] == "shop"
