"""One settings object for both faces: flag over VAULTUI_* variable over settings file over default, typed
parsing with one-line errors, and `--help` listing every setting."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from engine.config import DEFAULT_RTO_SECONDS, Settings, env_name
from engine.errors import ConfigError
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
