"""The restore request: what to restore and how, as one typed value that crosses into a Kubernetes Job whole
(as JSON). Free of any MongoDB driver: the CLI, the dashboard and the Job build and read it without one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from engine.common.errors import ConfigError
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.common.states import RestoreMode
from engine.sla.rto import DEFAULT_RTO_SECONDS

MODES = tuple(RestoreMode)


LOADERS = ("native", "mongorestore")


@dataclass(frozen=True)
class RestoreRequest:
    """What to restore and how. Exactly one of `latest`, `archive`, `day` chooses the archive."""

    latest: bool = False
    archive: str | None = None
    day: date | None = None
    namespaces: NamespaceFilter = field(default_factory=NamespaceFilter)
    renames: tuple[Rename, ...] = ()
    mode: RestoreMode = RestoreMode.GUARDED
    dry_run: bool = False
    loader: str = "native"
    parallel: int = 4
    insert_workers: int = 4
    indexes: bool = True
    keep_index_specs: bool = False  # send archived index specs untouched (no legacy normalisation)
    two_pass: bool = False  # verify first, then load straight into the targets (servers that cannot rename)
    wait_ready_seconds: float = 0.0
    rto_seconds: float = DEFAULT_RTO_SECONDS
    # A restore to a point in time (as given: an ISO time or an oplog timestamp T:I) plans its own base, so it
    # travels in the request too: a restore Job plans and replays where it runs.
    to_time: str | None = None
    across_restores: bool = False

    @property
    def single_pass(self) -> bool:
        """One read into staging collections swapped over the targets (the native loader's default)."""
        return self.loader == "native" and not self.two_pass

    def validate(self) -> None:
        if sum((self.latest, self.archive is not None, self.day is not None)) != 1:
            raise ConfigError(
                "choose exactly one archive: the latest good one, one by name, or the newest of a day",
                setting="archive_choice",
            )
        if self.mode not in MODES:
            raise ConfigError(f"unknown restore mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.loader not in LOADERS:
            raise ConfigError(f"unknown loader {self.loader!r}: choose one of {', '.join(LOADERS)}")
        if not (1 <= self.parallel <= 64 and 1 <= self.insert_workers <= 64):
            raise ConfigError("parallel collections and insert workers must be between 1 and 64", setting="workers")
        if self.rto_seconds <= 0 or self.wait_ready_seconds < 0:
            raise ConfigError("the RTO must be positive and the wait for the target not negative", setting="timing")


REQUEST_FORMAT = 1


REQUEST_ENV = "VAULTUI_RESTORE_REQUEST"  # where a restore Job finds its request


def request_to_json(request: RestoreRequest) -> str:
    """The whole request as JSON: how a restore crosses into a Kubernetes Job (one field list, no flags
    rebuilt by hand, so nothing is dropped on the way)."""
    data: dict[str, Any] = {"format": REQUEST_FORMAT}
    for item in fields(request):
        value = getattr(request, item.name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, NamespaceFilter):
            value = {
                name.name: list(getattr(value, name.name))
                if isinstance(getattr(value, name.name), tuple)
                else getattr(value, name.name)
                for name in fields(value)
            }
        elif item.name == "renames":
            value = [[pair.source, pair.target] for pair in value]
        data[item.name] = value
    return json.dumps(data, sort_keys=True)


def request_from_json(text: str) -> RestoreRequest:
    """Parses `request_to_json`'s output back, validated; a malformed one is a one-line ConfigError."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != REQUEST_FORMAT:
            raise ValueError(f"not a format-{REQUEST_FORMAT} restore request")
        known = {item.name for item in fields(RestoreRequest)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        if data.get("day") is not None:
            data["day"] = date.fromisoformat(data["day"])
        if "namespaces" in data:
            raw = data["namespaces"]
            data["namespaces"] = NamespaceFilter(
                databases=tuple(raw.get("databases", ())),
                include=tuple(raw.get("include", ())),
                exclude=tuple(raw.get("exclude", ())),
                system_databases=bool(raw.get("system_databases", False)),
            )
        if "renames" in data:
            data["renames"] = tuple(Rename(source, target) for source, target in data["renames"])
        request = RestoreRequest(**data)
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise ConfigError(f"the restore request is malformed ({error})") from None
    request.validate()
    return request
