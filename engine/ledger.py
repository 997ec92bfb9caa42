"""The run ledger: one JSON record per backup, restore, purge or drill, kept under a reserved storage prefix."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from engine.errors import StorageError
from engine.storage import Storage, read_bytes, write_bytes

LEDGER_PREFIX = "_vaultui/runs/"
KINDS = ("backup", "restore", "purge", "drill", "verify")


@dataclass
class RunRecord:
    """One run, successful or not. Never holds a secret: errors are scrubbed before they get here."""

    kind: str
    started_at: str
    finished_at: str
    result: str  # "success" | "failure" | "skipped"
    archive: str | None = None
    bytes: int = 0
    documents: int = 0
    duration_seconds: float = 0.0
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    @property
    def succeeded(self) -> bool:
        return self.result == "success"

    @property
    def key(self) -> str:
        stamp = self.started.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{LEDGER_PREFIX}{stamp}-{self.kind}-{self.id}.json"


def record_run(storage: Storage, record: RunRecord) -> RunRecord:
    write_bytes(storage, record.key, json.dumps(asdict(record), indent=1).encode() + b"\n")
    return record


def try_record_run(storage: Storage, record: RunRecord) -> str | None:
    """Records a run when the storage lets it; returns why it could not (the run's own error comes first)."""
    try:
        record_run(storage, record)
    except StorageError as error:
        return str(error)
    return None


def list_runs(storage: Storage, kind: str | None = None) -> list[RunRecord]:
    """Every run record, newest first; unreadable records are skipped rather than hiding the rest."""
    known = {item.name for item in fields(RunRecord)}
    records = []
    for info in storage.list(LEDGER_PREFIX):
        if not info.key.endswith(".json"):
            continue
        if kind and f"-{kind}-" not in info.key:
            continue
        try:
            raw = json.loads(read_bytes(storage, info.key))
            records.append(RunRecord(**{key: value for key, value in raw.items() if key in known}))
        except (ValueError, TypeError):
            continue
    records.sort(key=lambda record: record.started, reverse=True)
    return records
