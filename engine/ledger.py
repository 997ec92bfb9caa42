"""The run ledger: one JSON record per backup, restore, purge or drill, kept under a reserved storage prefix."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.clock import Clock, iso
from engine.errors import StorageError, VaultError
from engine.secrets import scrub
from engine.states import RunResult
from engine.storage import Storage, read_bytes, write_bytes
from engine.storage.errors import StorageFault

LEDGER_PREFIX = "_vaultui/runs/"
KINDS = ("backup", "restore", "purge", "drill", "verify")


@dataclass
class RunRecord:
    """One run, successful or not. Never holds a secret: errors are scrubbed before they get here."""

    kind: str
    started_at: str
    finished_at: str
    result: str  # a RunResult: success | failure | skipped | refused
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
    except (StorageError, StorageFault) as error:
        return str(error)
    return None


def list_runs(
    storage: Storage, kind: str | None = None, *, since: datetime | None = None, limit: int | None = None
) -> list[RunRecord]:
    """Run records, newest first: those of `kind`, started at or after `since`, at most `limit` of them.
    Keys begin with the start time, so the filters apply to the listing before any record is read: a
    status or a dashboard reads only the records it shows. Unreadable records are skipped."""
    return read_runs(storage, select_keys(run_keys(storage), kind, since=since, limit=limit))


def run_keys(storage: Storage) -> list[str]:
    """Every ledger key, newest first (one listing)."""
    return sorted((info.key for info in storage.list(LEDGER_PREFIX) if info.key.endswith(".json")), reverse=True)


def select_keys(
    keys: list[str], kind: str | None, *, since: datetime | None = None, limit: int | None = None
) -> list[str]:
    floor = LEDGER_PREFIX + since.astimezone(UTC).strftime("%Y%m%dT%H%M%S") if since else ""
    chosen = [key for key in keys if (not kind or f"-{kind}-" in key) and key >= floor]
    return chosen[:limit] if limit else chosen


_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "started_at": (str,),
    "finished_at": (str,),
    "result": (str,),
    "archive": (str, type(None)),
    "bytes": (int,),
    "documents": (int,),
    "duration_seconds": (int, float),
    "error": (str, type(None)),
    "details": (dict,),
    "id": (str,),
}


def parse_record(data: bytes) -> RunRecord:
    """A ledger record, checked field by field: a record with a wrong type or a time without a zone is a
    ValueError (and skipped by readers), never a crash of status or report later on."""
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ValueError("a ledger record is a JSON object")
    values = {name: value for name, value in raw.items() if name in _TYPES}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, _TYPES[name]):
            raise ValueError(f"field {name} has the wrong type")
    record = RunRecord(**values)
    for stamp in (record.started_at, record.finished_at):
        if datetime.fromisoformat(stamp).tzinfo is None:
            raise ValueError("times must carry a zone")
    return record


def read_runs(storage: Storage, keys: list[str]) -> list[RunRecord]:
    """The records under `keys`; one that is unreadable or malformed is skipped (it affects only itself)."""
    records = []
    for key in keys:
        try:
            records.append(parse_record(read_bytes(storage, key)))
        except (ValueError, TypeError, RecursionError):
            continue
    records.sort(key=lambda record: record.started, reverse=True)
    return records


def describe_failure(error: BaseException, secrets: list[str]) -> str:
    """The one line a failed run's record keeps: the engine's message, never a secret, never a traceback."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, VaultError):
        return scrub(str(error), secrets)
    return scrub(f"internal error: {type(error).__name__}: {error}", secrets)


@contextlib.contextmanager
def recorded_run(
    storage: Storage,
    kind: str,
    clock: Clock,
    secrets: list[str],
    *,
    record: bool = True,
    unrecorded: list[str] | None = None,
    **fields: Any,
) -> Iterator[RunRecord]:
    """Yields a record for the caller to fill in; writes it when the block ends, as a failure (with the
    scrubbed error) when the block raises. `finished_at` and `duration_seconds` are set here. With
    `record=False` (previews: they change nothing and are not runs) nothing is written, success or failure.
    With an `unrecorded` list, a record that cannot be written (read-only storage, as a restore-at-start
    sidecar mounts it) is a warning appended there, not a failure of the run."""
    started = clock()
    began = time.monotonic()
    run = RunRecord(kind, iso(started), iso(started), RunResult.SUCCESS, **fields)
    try:
        yield run
    except BaseException as error:
        if not record:
            raise
        run.result = RunResult.FAILURE
        run.error = describe_failure(error, secrets)
        run.finished_at = iso(clock())
        run.duration_seconds = round(time.monotonic() - began, 3)
        problem = try_record_run(storage, run)
        if problem and isinstance(error, VaultError) and not isinstance(error, StorageError | StorageFault):
            error.add_note(f"also, the failure could not be recorded in the ledger: {problem}")
        raise
    if not record:
        return
    run.finished_at = iso(clock())
    run.duration_seconds = run.duration_seconds or round(time.monotonic() - began, 3)
    problem = try_record_run(storage, run)
    if problem and unrecorded is not None:
        unrecorded.append(f"the {kind} was not recorded in the ledger: {problem}")
    elif problem:
        raise StorageError(f"the {kind} succeeded, but its ledger record could not be written: {problem}")
