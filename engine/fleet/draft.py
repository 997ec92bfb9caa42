"""Fleet entries written for a person to review (by `fleet discover`): TOML tables whose secrets are named
environment variables to fill in, never values; added to a fleet file without touching what it holds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.common.errors import ConfigError
from engine.fleet.file import SECRET_KEYS, load_fleet

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_IN_CLUSTER = {variable: key for key, variable in SECRET_KEYS.items()}  # VAULTUI_MONGO_URI -> mongo_uri
_NUMBERS = {"max_age_days", "keep_last", "rto_seconds", "rpo_seconds", "target_percent"}


@dataclass
class DraftEntry:
    name: str
    settings: dict[str, str]
    kube_context: str = ""
    namespace: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # in-cluster variable -> where the cluster reads it
    notes: list[str] = field(default_factory=list)


def _key(text: str) -> str:
    return text if _BARE_KEY.match(text) else json.dumps(text)


def _value(setting: str, text: str) -> str:
    if setting in _NUMBERS:
        try:
            return str(float(text)) if "." in text else str(int(text))
        except ValueError:
            pass
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def render(entries: list[DraftEntry], header: str) -> str:
    lines = [f"# {line}" for line in header.splitlines()]
    for entry in entries:
        table = f"deployments.{_key(entry.name)}"
        lines += ["", *[f"# {note}" for note in entry.notes], f"[{table}]"]
        for setting, text in entry.settings.items():
            lines.append(f"{setting} = {_value(setting, text)}")
        if entry.kube_context:
            lines.append(f"kube_context = {json.dumps(entry.kube_context)}")
        if entry.namespace:
            lines.append(f"namespace = {json.dumps(entry.namespace)}")
        secrets = [(variable, where) for variable, where in entry.secrets.items() if variable in _IN_CLUSTER]
        if secrets:
            lines.append(f"[{table}.secrets]")
            prefix = re.sub(r"[^A-Z0-9]", "_", entry.name.upper())
            for variable, where in secrets:
                key = _IN_CLUSTER[variable]
                lines.append(f"{key} = {{ env = {json.dumps(f'{prefix}_{key.upper()}')} }}  # in-cluster: {where}")
    return "\n".join(lines) + "\n"


def add_to_file(path: Path, entries: list[DraftEntry], header: str) -> list[str]:
    """Appends the entries the file does not name yet; returns the names added. The file is left as it was
    when the result would not load (it is checked before it is written)."""
    existing = path.read_text() if path.exists() else ""
    known = set(load_fleet(path).names) if existing.strip() else set()
    new = [entry for entry in entries if entry.name not in known]
    if not new:
        return []
    text = existing + ("\n" if existing and not existing.endswith("\n") else "") + render(new, header)
    candidate = path.with_name(f".{path.name}.new")
    candidate.write_text(text)
    try:
        load_fleet(candidate)
    except ConfigError:
        candidate.unlink()
        raise
    candidate.replace(path)
    return [entry.name for entry in new]
