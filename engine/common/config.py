"""Settings: one object, each default stated once. Precedence: the flag the user typed, else the VAULTUI_*
environment variable, else the optional settings file (TOML, `--config` or VAULTUI_CONFIG), else the default.
Secrets (MongoDB URIs) come only from the environment or a file, never from the command line or the
settings file; this module is the only place that reads the process environment for vaultui's own
variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.common.errors import ConfigError

ENV_PREFIX = "VAULTUI_"

# The defaults every part of the engine and both faces use (stated here once).
DEFAULT_SCHEDULE = "0 0 * * *"
DEFAULT_TARGET_PERCENT = 99.0
DEFAULT_WINDOW_DAYS = 30
DEFAULT_MAX_AGE_DAYS = 90
# Retention always keeps this many newest good archives, whatever their age: one archive is one bad disk
# away from none.
DEFAULT_KEEP_LAST = 3
DEFAULT_RTO_SECONDS = 600.0
# The recovery-point threshold `status` holds once the oplog is captured (before that, nightly archives make
# the RPO a day by design, and a threshold set by hand applies).
DEFAULT_RPO_SECONDS = 300.0
# zstd: on the 100k-document sample it compresses about 9x faster than gzip -6 for a slightly smaller
# archive; gzip keeps archives readable by `tar xzf` on machines without zstd.
DEFAULT_CODEC = "zstd"


def split_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _setting(default: Any, help_text: str, parse: Callable[[str], Any] = str) -> Any:
    return field(default=default, metadata={"help": help_text, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """Everything that configures a run or the dashboard, apart from secrets."""

    storage: str = _setting("", "where archives live: a folder (the PVC) or s3://bucket/prefix")
    codec: str = _setting(DEFAULT_CODEC, "archive compression: zstd or gzip")
    dumper: str = _setting("native", "native (pymongo) or mongodump")
    loader: str = _setting("native", "native or mongorestore")
    parallel: int = _setting(4, "collections dumped or indexed at once", int)
    insert_workers: int = _setting(4, "parallel insert workers of a restore", int)
    connect_timeout: float = _setting(10.0, "seconds to wait for MongoDB to answer", float)
    wait_ready: float = _setting(0.0, "seconds a restore waits for its target to come up", float)
    schedule: str = _setting(DEFAULT_SCHEDULE, "when backups are expected (cron)")
    timezone: str = _setting("UTC", "time zone of the schedule")
    max_age_days: int = _setting(DEFAULT_MAX_AGE_DAYS, "delete archives older than this many days", int)
    keep_last: int = _setting(DEFAULT_KEEP_LAST, "always keep this many newest good archives (at least 1)", int)
    window_days: int = _setting(DEFAULT_WINDOW_DAYS, "compliance window in days", int)
    target_percent: float = _setting(DEFAULT_TARGET_PERCENT, "compliance target in percent", float)
    rto_seconds: float = _setting(DEFAULT_RTO_SECONDS, "recovery-time objective in seconds", float)
    rpo_seconds: float = _setting(
        0.0, "recovery-point threshold in seconds (0: 300 once the oplog is captured, none before)", float
    )
    refresh: float = _setting(30.0, "dashboard reload interval in seconds (0: never)", float)
    metrics_file: str = _setting("", "write Prometheus metrics to this file (textfile collector)")
    pushgateway: str = _setting("", "push Prometheus metrics to this Pushgateway URL")
    deployment: str = _setting(
        "", "this deployment's name in metrics and alerts (default: the storage's last path part)"
    )
    deployment_namespace: str = _setting("", "the namespace in metrics and alerts (default: the pod's own, else none)")
    backup_grace: float = _setting(
        3600.0, "seconds after a scheduled slot a backup may still succeed before alerts call it missed", float
    )
    db: tuple[str, ...] = _setting((), "only these databases (comma-separated)", split_list)
    ns_include: tuple[str, ...] = _setting((), "only namespaces like these patterns (comma-separated)", split_list)
    ns_exclude: tuple[str, ...] = _setting((), "skip namespaces like these patterns (comma-separated)", split_list)
    mongo_tools: str = _setting("", "folder holding mongodump/mongorestore when not on PATH")
    max_unpacked_gib: float = _setting(1024.0, "how far an archive without a manifest may unpack, in GiB", float)
    age_recipients: tuple[str, ...] = _setting(
        (), "encrypt new archives to these age public keys (age1…, comma-separated)", split_list
    )
    age_identity_file: str = _setting("", "age identity file that opens encrypted archives (where restores run)")
    fleet: str = _setting("", "a fleet file (TOML): many deployments in one dashboard, `status --fleet`")
    fleet_deadline: float = _setting(15.0, "seconds a fleet deployment's storage has to answer", float)
    lease_seconds: float = _setting(600.0, "a storage lease expires this many seconds after its last renewal", float)

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        file: Path | None = None,
    ) -> Settings:
        """The settings in force: `flags` (None means "not typed") over environment over file over default."""
        environ = os.environ if environ is None else environ
        flags = flags or {}
        file = file or (Path(environ[ENV_PREFIX + "CONFIG"]) if environ.get(ENV_PREFIX + "CONFIG") else None)
        from_file = _read_file(file) if file else {}
        values: dict[str, Any] = {}
        for item in fields(cls):
            parse = item.metadata["parse"]
            if flags.get(item.name) is not None:
                values[item.name] = flags[item.name]
            elif raw := environ.get(env_name(item.name), "").strip():
                values[item.name] = _parse(parse, raw, env_name(item.name))
            elif item.name in from_file:
                values[item.name] = _from_file(parse, from_file[item.name], f"{file}: {item.name}")
        return replace(cls(), **values)


# The settings the face (CLI or dashboard) resolved, flags and --config file included. The engine's process-
# wide knobs (where the mongo tools are, how far an archive may unpack, lease length, the age identity) read
# them through `in_force()`, never the environment: a value in the settings file counts as much as a variable.
_IN_FORCE: Settings | None = None


def put_in_force(settings: Settings) -> None:
    """Called once by each face with the settings it resolved (tests and benches may call it again)."""
    global _IN_FORCE
    _IN_FORCE = settings


def in_force() -> Settings:
    """The settings a face put in force; the defaults for engine use without a face."""
    return _IN_FORCE if _IN_FORCE is not None else Settings()


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _parse(parse: Callable[[str], Any], raw: str, where: str) -> Any:
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(f"{where}={raw!r} is not valid: {error}") from None


def _from_file(parse: Callable[[str], Any], value: Any, where: str) -> Any:
    if parse is split_list and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where} must be a string or a number, not {type(value).__name__}")
    return _parse(parse, str(value), where)


def setting_from_file(name: str, value: Any, where: str) -> Any:
    """A setting's value as a TOML file gives it (the settings file, a fleet file), parsed as its variable is."""
    parse = next(item.metadata["parse"] for item in fields(Settings) if item.name == name)
    return _from_file(parse, value, where)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read the settings file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"the settings file {path} is not valid TOML: {error}") from None
    known = {item.name for item in fields(Settings)}
    if unknown := sorted(set(data) - known):
        raise ConfigError(f"the settings file {path} has unknown settings: {', '.join(unknown)}")
    return data


def settings_help() -> str:
    """The settings table `--help` prints: variable, default, meaning."""
    lines = []
    for item in fields(Settings):
        default = item.default if item.default is not MISSING else ""
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        lines.append(f"  {env_name(item.name):<26} {shown or '-':<12} {item.metadata['help']}")
    return "\n".join(lines)


# ---- secrets and hand-offs: environment (a Secret) or a file, never argv ------------------------------------


def read_secret(env: str, file_path: Path | None, what: str) -> str:
    """A secret from a file (a mounted Secret) when given, else from the environment; '' when neither."""
    if file_path is not None:
        try:
            return file_path.read_text().strip()
        except OSError as error:
            raise ConfigError(f"cannot read the {what} file {file_path}: {error.strerror or error}") from None
    return os.environ.get(env, "").strip()


def source_uri(file_path: Path | None = None) -> str:
    return read_secret("VAULTUI_MONGO_URI", file_path, "MongoDB URI")


def target_uri(file_path: Path | None = None) -> str:
    return read_secret("VAULTUI_TARGET_URI", file_path, "target MongoDB URI")


def notify_webhook(given: str | None = None) -> str:
    """Where failed and refused runs are told (--notify-webhook, else VAULTUI_NOTIFY_WEBHOOK from a Secret)."""
    return (given or "").strip() or read_secret("VAULTUI_NOTIFY_WEBHOOK", None, "notify webhook")


def drill_uri(file_path: Path | None = None) -> str:
    """Drills restore into VAULTUI_DRILL_URI, else into the restore target (decided here, once)."""
    return read_secret("VAULTUI_DRILL_URI", file_path, "drill target URI") or target_uri()


def saved_targets() -> dict[str, str]:
    """Saved restore targets: VAULTUI_TARGETS='name=uri;name=uri', plus VAULTUI_TARGET_URI as 'target'."""
    targets: dict[str, str] = {}
    for item in os.environ.get("VAULTUI_TARGETS", "").split(";"):
        name, _, uri = item.strip().partition("=")
        if name and uri:
            targets[name.strip()] = uri.strip()
    if uri := target_uri():
        targets.setdefault("target", uri)
    return targets


def ledger_key() -> bytes | None:
    """The ledger's signing key (VAULTUI_LEDGER_KEY, from a Secret); None when no key is set."""
    value = os.environ.get("VAULTUI_LEDGER_KEY", "").strip()
    return value.encode() if value else None


def handed_over(env: str) -> str:
    """A value another vaultui process handed over through the environment (e.g. a restore Job's request)."""
    return os.environ.get(env, "")
