"""The run ledger: one JSON record per backup, restore, purge or drill, kept under a reserved storage prefix."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.common.clock import Clock, iso
from engine.common.config import ledger_key
from engine.common.errors import StorageError, VaultError
from engine.common.redact import scrub
from engine.common.schemas import decode
from engine.common.states import RunKind, RunResult
from engine.storage import ObjectInfo, Storage, read_bytes, write_bytes
from engine.storage.errors import ObjectMissing, StorageFault

LEDGER_PREFIX = "_vaultui/runs/"


@dataclass
class RunRecord:
    """One run, successful or not. Never holds a secret: errors are scrubbed before they get here."""

    kind: RunKind  # a kind this version does not know makes the record unreadable (skipped, and named)
    started_at: str
    finished_at: str
    result: RunResult
    archive: str | None = None
    bytes: int = 0
    documents: int = 0
    duration_seconds: int | float = 0.0  # as written: a signature covers the exact JSON number
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # The chain: the ledger's newest record when this one was written ({"key", "sha256"}), so a deleted or
    # altered record breaks the next one's link; and an HMAC-SHA256 of the record under VAULTUI_LEDGER_KEY,
    # so a record written without the key shows as forged. Records of vaultui 0.1 have neither.
    previous: dict[str, str] | None = None
    signature: str | None = None

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)

    @property
    def succeeded(self) -> bool:
        return self.result == RunResult.SUCCESS

    def brief(self) -> dict[str, Any]:
        """The run in four fields, as status --json and the monthly report show a recovery."""
        return {
            "started": self.started_at,
            "archive": self.archive,
            "result": self.result,
            "duration_seconds": self.duration_seconds,
        }

    def key_among(self, keys: list[str]) -> str:
        """Its ledger key: the start second, then a sequence number that puts it after the records of the same
        second already written (`keys`), so "newest first" is the order they were written even when several
        runs start in one second (times are kept to the second)."""
        second = self.started.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        sequence = sum(1 for key in keys if key.startswith(LEDGER_PREFIX + second))
        return f"{LEDGER_PREFIX}{second}{sequence:06d}Z-{self.kind}-{self.id}.json"


def record_run(storage: Storage, record: RunRecord) -> RunRecord:
    keys = run_keys(storage)
    record.previous = (
        {"key": keys[0], "sha256": hashlib.sha256(read_bytes(storage, keys[0])).hexdigest()}
        if keys
        else {"key": "", "sha256": ""}  # the first record of a ledger
    )
    record.signature = sign(record, ledger_key())
    write_bytes(storage, record.key_among(keys), json.dumps(asdict(record), indent=1).encode() + b"\n")
    return record


def sign(record: RunRecord, key: bytes | None) -> str | None:
    """HMAC-SHA256 over the record's canonical JSON without its signature; None without a key."""
    if not key:
        return None
    body = {name: value for name, value in asdict(record).items() if name != "signature"}
    return hmac.new(key, json.dumps(body, sort_keys=True).encode(), hashlib.sha256).hexdigest()


@dataclass
class LedgerCheck:
    """What checking the chain and the signatures found. `intact` when nothing is broken or forged."""

    checked: int = 0
    signed: bool = False  # whether signatures were checked (a key was set)
    unchained: int = 0  # records written before the chain existed (vaultui 0.1)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.intact:
            older = f" ({self.unchained} older records predate the chain)" if self.unchained else ""
            what = "chain and signatures" if self.signed else "chain; unsigned, set VAULTUI_LEDGER_KEY to sign"
            return f"ledger intact: {self.checked} records checked ({what}){older}"
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"ledger BROKEN: {self.problems[0]}{more}"


def check_ledger(storage: Storage, *, key: bytes | None = None, keys: list[str] | None = None) -> LedgerCheck:
    """Reads every record (or those under `keys`) and checks the chain: see check_chain."""
    keys = run_keys(storage) if keys is None else keys
    return check_chain(read_raw(storage, keys), set(keys), key=key)


def read_raw(storage: Storage, keys: list[str]) -> dict[str, bytes]:
    """The records' bytes, key by key; one that cannot be read (vanished, oversized) is left out."""
    raw = {}
    for name in keys:
        try:
            raw[name] = read_bytes(storage, name)
        except (ValueError, ObjectMissing):
            continue
    return raw


def check_chain(raw: dict[str, bytes], listed: set[str], *, key: bytes | None = None) -> LedgerCheck:
    """Each record in `raw` must parse, each link must name a record that exists and still has the hash it
    had, and each signature must match under the key (when one is set). A link to a record that exists in
    the listing (`listed`) but was not read (older than the checked span) is not checked."""
    key = ledger_key() if key is None else key
    check = LedgerCheck(signed=bool(key))
    for name in sorted(raw, reverse=True):
        try:
            record = parse_record(raw[name])
        except (ValueError, TypeError, RecursionError):
            check.problems.append(f"{name} is not a valid record")
            continue
        check.checked += 1
        if record.previous is None and record.signature is None:
            check.unchained += 1
            continue
        if key and record.signature != sign(record, key):
            check.problems.append(f"{name} is not signed with the ledger key: forged or altered")
        link = record.previous or {}
        if not link.get("key"):
            continue  # the first record of the ledger
        if link.get("key") not in raw and link.get("key") in listed:
            continue  # outside the span checked
        if link.get("key") not in raw:
            check.problems.append(f"{name} follows {link.get('key')}, which is gone: a record was deleted")
        elif hashlib.sha256(raw[link["key"]]).hexdigest() != link.get("sha256"):
            check.problems.append(f"{link['key']} was changed after {name} was chained to it")
    return check


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
    return sorted(run_listing(storage), reverse=True)


def run_listing(storage: Storage) -> dict[str, ObjectInfo]:
    """Every ledger record as the listing shows it (key, size, write time)."""
    return {info.key: info for info in storage.list(LEDGER_PREFIX) if info.key.endswith(".json")}


def select_keys(
    keys: list[str], kind: str | None, *, since: datetime | None = None, limit: int | None = None
) -> list[str]:
    floor = LEDGER_PREFIX + since.astimezone(UTC).strftime("%Y%m%dT%H%M%S") if since else ""
    chosen = [key for key in keys if (not kind or f"-{kind}-" in key) and key >= floor]
    return chosen[:limit] if limit else chosen


def parse_record(data: bytes) -> RunRecord:
    """A ledger record, validated field by field (engine.common.schemas): a record with a wrong type or a time
    without a zone is a ValueError (and skipped by readers), never a crash of status or report later on."""
    record = decode(data, RunRecord, "ledger record")
    for stamp in (record.started_at, record.finished_at):
        if datetime.fromisoformat(stamp).tzinfo is None:
            raise ValueError("times must carry a zone")
    return record


def read_runs(
    storage: Storage, keys: list[str], skipped: list[str] | None = None, raw: dict[str, bytes] | None = None
) -> list[RunRecord]:
    """The records under `keys` (from `raw` when already read); one that is unreadable or malformed is skipped
    (it affects only itself) and, given a `skipped` list, named there with why."""
    records = []
    for key in keys:
        try:
            records.append(parse_record(raw[key] if raw is not None and key in raw else read_bytes(storage, key)))
        except (ValueError, TypeError, RecursionError, ObjectMissing) as error:
            if skipped is not None:
                skipped.append(f"{key}: {error}")
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
    kind: RunKind,
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
