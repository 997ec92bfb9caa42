"""Settings resolution: the flag the user typed, else the VAULTUI_* environment variable, else the default.
Secrets (MongoDB URIs) come only from the environment or a file, never from the command line."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engine.errors import ConfigError

T = TypeVar("T")
ENV_PREFIX = "VAULTUI_"


def setting(flag_value: T | None, name: str, default: T, parse: Callable[[str], T]) -> T:
    """`flag_value` when given, else VAULTUI_<NAME> parsed, else `default`."""
    if flag_value is not None:
        return flag_value
    raw = os.environ.get(ENV_PREFIX + name.upper())
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not valid: {error}") from None


def split_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def read_secret(env_name: str, file_path: Path | None, what: str) -> str:
    """A secret from a file (a mounted Secret) when given, else from the environment; '' when neither."""
    if file_path is not None:
        try:
            return file_path.read_text().strip()
        except OSError as error:
            raise ConfigError(f"cannot read the {what} file {file_path}: {error.strerror or error}") from None
    return os.environ.get(env_name, "").strip()
