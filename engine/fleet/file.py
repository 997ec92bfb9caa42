"""The fleet file: every deployment a team runs, one TOML table each, with its storage, schedule, SLA targets,
Kubernetes place, restore targets and where its secrets come from (an environment variable's name or a
file's path, never a secret itself). Every mistake in the file is named on a line of its own, all at once."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.common.config import Settings, setting_from_file
from engine.common.errors import ConfigError

if TYPE_CHECKING:
    from engine.storage import Storage

# Keys of a deployment's table besides the settings (and `compliance_target`, the SLA's word for target_percent).
PLACE_KEYS = {"kube_context": "the kubeconfig context of its cluster", "namespace": "the namespace of its pods"}
ALIASES = {"compliance_target": "target_percent"}
# What a deployment's secrets may name, and the VAULTUI_* variable each stands for in the single-deployment setup.
SECRET_KEYS = {
    "mongo_uri": "VAULTUI_MONGO_URI",
    "drill_uri": "VAULTUI_DRILL_URI",
    "ledger_key": "VAULTUI_LEDGER_KEY",
    "notify_webhook": "VAULTUI_NOTIFY_WEBHOOK",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}
S3_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")  # a storage's own credentials
_NAME = re.compile(r"\w[\w.-]{0,62}")  # any script's letters: a name is a label, never a path
_SETTING_NAMES = {item.name for item in fields(Settings)}
# Settings that make no sense per deployment (the face's own) or are set by the fleet itself.
_NOT_PER_DEPLOYMENT = {"deployment", "refresh", "fleet"}


@dataclass(frozen=True)
class SecretSource:
    """Where one secret is read from when it is needed: an environment variable or a file."""

    env: str = ""
    file: str = ""

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"

    def read(self, what: str) -> str:
        """The secret's value; ConfigError naming the variable or file when it is not there."""
        if self.env:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise ConfigError(f"the {what} comes from ${self.env}, which is not set")
            return value
        try:
            return Path(self.file).expanduser().read_text().strip()
        except OSError as error:
            raise ConfigError(f"cannot read the {what} from {self.file}: {error.strerror or error}") from None


@dataclass(frozen=True)
class Deployment:
    """One deployment of the fleet: its settings (storage, schedule, targets) and where it lives."""

    name: str
    settings: Settings
    kube_context: str | None = None
    kube_namespace: str | None = None
    secrets: dict[str, SecretSource] = field(default_factory=dict)
    targets: dict[str, SecretSource] = field(default_factory=dict)  # restore targets: name -> where the URI is

    def secret(self, key: str) -> str:
        """A secret of this deployment, '' when the fleet file names no source for it."""
        source = self.secrets.get(key)
        return source.read(f"{key} of {self.name}") if source is not None else ""

    def storage_credentials(self) -> dict[str, str]:
        """The S3 credentials this deployment names (empty: boto3's usual chain applies)."""
        return {key: self.secret(key) for key in S3_KEYS if key in self.secrets}

    def open_storage(self) -> Storage:
        """Its storage, reached with the credentials it names."""
        from engine.storage import open_storage

        return open_storage(self.settings.storage, credentials=self.storage_credentials())


@dataclass(frozen=True)
class Fleet:
    path: Path
    deployments: list[Deployment]

    def get(self, name: str) -> Deployment:
        for deployment in self.deployments:
            if deployment.name == name:
                return deployment
        raise ConfigError(f"{self.path} has no deployment {name!r} (it has {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [deployment.name for deployment in self.deployments]


def load_fleet(path: Path, base: Settings | None = None) -> Fleet:
    """The fleet a file describes. `base`: the settings in force (flags, VAULTUI_*, settings file), which
    `[defaults]` and then each deployment's own keys override. Raises one ConfigError listing every mistake."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read the fleet file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"the fleet file {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the fleet file {path} is not UTF-8 text") from None
    problems: list[str] = []
    for key in sorted(set(data) - {"defaults", "deployments"}):
        problems.append(f"unknown table or key {key!r} (a fleet file has [defaults] and [deployments.NAME])")
    base = base or Settings()
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append("defaults must be a table: [defaults]")
        defaults = {}
    common = _settings_of("defaults", {key: value for key, value in defaults.items()}, base, problems, defaults=True)
    tables = data.get("deployments", {})
    if not isinstance(tables, dict) or not tables:
        problems.append('no deployments: add one table per deployment, e.g. [deployments.prod] storage = "…"')
        tables = {}
    deployments = []
    for name, table in tables.items():
        where = f"deployments.{name}"
        if not _NAME.fullmatch(name):
            problems.append(
                f"{where}: a deployment's name is letters, digits, '-', '_' or '.' (at most 63), "
                "starting with a letter or digit"
            )
        if not isinstance(table, dict):
            problems.append(f"{where} must be a table")
            continue
        deployment = _deployment(name, table, common, problems)
        if deployment is not None:
            deployments.append(deployment)
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise ConfigError(
            f"the fleet file {path} has {len(problems)} mistakes:\n{lines}"
            if len(problems) > 1
            else f"the fleet file {path}: {problems[0]}"
        )
    return Fleet(Path(path), deployments)


def _deployment(name: str, table: dict[str, Any], common: Settings, problems: list[str]) -> Deployment | None:
    where = f"deployments.{name}"
    table = dict(table)
    secrets = _sources(where, "secrets", table.pop("secrets", {}), problems, known=SECRET_KEYS)
    targets = _sources(where, "targets", table.pop("targets", {}), problems, known=None)
    place = {key: table.pop(key) for key in list(table) if key in PLACE_KEYS}
    for key, value in place.items():
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{key} must be a non-empty string ({PLACE_KEYS[key]})")
    before = len(problems)
    settings = _settings_of(where, table, common, problems)
    if "storage" not in table:
        problems.append(f'{where}: no storage; add storage = "s3://bucket/prefix" or a folder path')
    if len(problems) > before:
        return None
    namespace = str(place.get("namespace") or "") or None
    settings = replace(settings, deployment=name, deployment_namespace=settings.deployment_namespace or namespace or "")
    return Deployment(
        name,
        settings,
        kube_context=str(place.get("kube_context") or "") or None,
        kube_namespace=namespace,
        secrets=secrets,
        targets=targets,
    )


def _settings_of(
    where: str, table: dict[str, Any], base: Settings, problems: list[str], defaults: bool = False
) -> Settings:
    """`base` with the table's settings over it; a key that is not a setting, or a value of the wrong kind, is
    one problem each."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        setting = ALIASES.get(key, key)
        if key in ("secrets", "targets") or key in PLACE_KEYS:
            if defaults:
                problems.append(f"{where}.{key}: set it per deployment, not in [defaults]")
            continue
        if setting not in _SETTING_NAMES or setting in _NOT_PER_DEPLOYMENT:
            problems.append(f"{where}.{key} is not a setting a deployment has (see `vaultui --help` for them)")
            continue
        if _looks_secret(value):
            problems.append(f"{where}.{key} holds a password: name where it comes from in [{where}.secrets] instead")
            continue
        try:
            values[setting] = setting_from_file(setting, value, f"{where}.{key}")
        except ConfigError as error:
            problems.append(str(error))
    return replace(base, **values)


def _sources(
    where: str, section: str, table: Any, problems: list[str], known: dict[str, str] | None
) -> dict[str, SecretSource]:
    """`{env = "NAME"}` or `{file = "/path"}` per key; a literal value is refused (the file is not a vault)."""
    if not isinstance(table, dict):
        problems.append(f'{where}.{section} must be a table of {{env = "NAME"}} or {{file = "/path"}}')
        return {}
    sources = {}
    for key, value in table.items():
        at = f"{where}.{section}.{key}"
        if known is not None and key not in known:
            problems.append(f"{at}: unknown secret (known: {', '.join(known)})")
            continue
        if isinstance(value, str):
            problems.append(f'{at}: never write a secret here; name its source: {{env = "NAME"}} or {{file = "/path"}}')
            continue
        if (
            not isinstance(value, dict)
            or sorted(value) not in (["env"], ["file"])
            or not all(isinstance(item, str) and item.strip() for item in value.values())
        ):
            problems.append(f'{at} must be {{env = "NAME"}} or {{file = "/path"}}, exactly one of them')
            continue
        sources[key] = SecretSource(env=value.get("env", "").strip(), file=value.get("file", "").strip())
    return sources


def _looks_secret(value: Any) -> bool:
    """A URL with a password in it (mongodb://user:pass@…, https://key:secret@…)."""
    return isinstance(value, str) and re.search(r"://[^/@\s]*:[^/@\s]+@", value) is not None
