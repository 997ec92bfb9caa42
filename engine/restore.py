"""One restore: choose the archive (latest good, by name, or by day), verify it, guard the target, load it,
build indexes, and record how long it took against the recovery-time objective."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from engine.catalog import ArchiveEntry, find_archive, list_archives, stamped_in_future
from engine.clock import Clock, utc_now
from engine.errors import ArchiveNotFound, ConfigError, SourceError, TargetNotEmpty, VerificationError
from engine.ledger import RunRecord, recorded_run
from engine.load import LoadItem, build_indexes, create_views, prepare_targets, stream_documents
from engine.progress import ProgressCallback, ProgressTracker
from engine.remap import Rename, rename, split_namespace
from engine.rto import DEFAULT_RTO_SECONDS, rto_met
from engine.secrets import hosts_of
from engine.source import NamespaceFilter, connect
from engine.states import RestoreAction, RestoreMode, RunResult, restore_action
from engine.storage import Storage
from engine.tools import mongorestore_archive
from engine.verify import VerifyReport, verify_and_record

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
    wait_ready_seconds: float = 0.0
    rto_seconds: float = DEFAULT_RTO_SECONDS

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


@dataclass
class PlannedNamespace:
    source: str
    target: str
    type: str
    documents: int
    target_documents: int  # what the target holds there now

    def action(self, mode: str) -> RestoreAction:
        return restore_action(self.target_documents, mode)


@dataclass
class RestoreResult:
    """What happened. `status`: restored | skipped (if-empty mode found data) | dry-run."""

    archive: str
    status: str
    plan: list[PlannedNamespace]
    reason: str = ""
    rejected: list[tuple[str, str]] = field(default_factory=list)  # newer archives that failed verification
    documents: int = 0
    duplicates: int = 0
    indexes: int = 0
    index_changes: list[str] = field(default_factory=list)  # legacy specs normalised, one line each
    indexes_refused: list[tuple[str, str, str]] = field(default_factory=list)  # (namespace, index, server says)
    not_restored: list[str] = field(default_factory=list)  # legacy archive files that map to no namespace
    warnings: list[str] = field(default_factory=list)  # e.g. the ledger record could not be written
    duration_seconds: float = 0.0
    rto_seconds: float = DEFAULT_RTO_SECONDS
    record: RunRecord | None = None

    @property
    def rto_met(self) -> bool:
        return rto_met(self.duration_seconds, self.rto_seconds)


def candidates(storage: Storage, request: RestoreRequest, now: datetime) -> list[ArchiveEntry]:
    """The archives to try, in order. Latest-first means latest *good*, in one time order whoever made them
    (an old-pipeline archive of yesterday comes before a vaultui archive of last month); incomplete archives
    (no manifest) and archives stamped in the future (clock skew) are never candidates."""
    if request.archive is not None:
        return [find_archive(storage, request.archive)]
    entries = [entry for entry in list_archives(storage) if entry.status != "incomplete"]
    if request.day is not None:
        of_day = [entry for entry in entries if entry.ref.time.date() == request.day]
        if not of_day:
            raise ArchiveNotFound(f"no archive from {request.day.isoformat()} (UTC) in {storage.url}")
        return of_day[:1]
    ordered = [entry for entry in entries if not stamped_in_future(entry, now)]
    if not ordered:
        raise ArchiveNotFound(f"no restorable archive in {storage.url}: run a backup first")
    return ordered


def choose_verified(
    storage: Storage, request: RestoreRequest, progress: ProgressCallback | None, clock: Clock
) -> tuple[ArchiveEntry, VerifyReport, list[tuple[str, str]]]:
    """The first candidate that verifies in full, and the ones rejected on the way (each recorded)."""
    now = clock()
    rejected: list[tuple[str, str]] = []
    if request.latest:
        rejected += [
            (entry.name, f"stamped {entry.ref.time:%Y-%m-%d %H:%M} UTC, in the future: clock skew, not the latest")
            for entry in list_archives(storage)
            if entry.status != "incomplete" and stamped_in_future(entry, now)
        ]
    for entry in candidates(storage, request, now):
        report = verify_and_record(storage, entry, progress=progress, clock=clock)
        if report.ok:
            return entry, report, rejected
        reason = "; ".join(report.problems)
        rejected.append((entry.name, f"failed verification: {reason}"))
        if not request.latest:
            raise VerificationError(f"archive {entry.name} failed verification, nothing was changed: {reason}")
    raise VerificationError(
        f"no archive verified ({len(rejected)} tried, newest {rejected[0][0]}: {rejected[0][1]}); nothing was changed"
    )


def wait_until_ready(uri: str, seconds: float) -> pymongo.MongoClient:
    """Connects to the target, retrying for up to `seconds` (a restart hook starts before mongod is up)."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        try:
            return connect(uri, role="target", timeout_seconds=max(2.0, min(remaining, 10.0)))
        except SourceError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def plan_items(report: VerifyReport, request: RestoreRequest) -> list[LoadItem]:
    items = []
    for source, found in sorted(report.collections.items()):
        if not request.namespaces.accepts(source):
            continue
        metadata = found.metadata or {}
        items.append(
            LoadItem(
                source,
                rename(source, request.renames),
                metadata.get("type", "collection"),
                metadata,
                found.documents,
                found.bson_bytes,
                found.stem,
            )
        )
    if not items:
        held = ", ".join(sorted(report.collections)[:8]) or "nothing"
        raise ConfigError(f"nothing in {report.archive} matches the namespace filter (it holds {held})")
    return items


def target_documents(client: pymongo.MongoClient, items: list[LoadItem]) -> dict[str, int]:
    counts = {}
    for item in items:
        database_name, collection_name = split_namespace(item.target)
        try:
            counts[item.target] = client[database_name][collection_name].count_documents({})
        except PyMongoError as error:
            raise SourceError(f"cannot read {item.target} in the target: {error}") from None
    return counts


def load_into(
    client: pymongo.MongoClient,
    storage: Storage,
    entry: ArchiveEntry,
    items: list[LoadItem],
    request: RestoreRequest,
    target_uri: str,
    result: RestoreResult,
    progress: ProgressCallback | None,
) -> None:
    """Loads a verified archive's chosen namespaces with the requested loader; fills in `result`'s counts."""
    tracker = ProgressTracker(
        "restore",
        progress,
        total_bytes=sum(item.bson_bytes for item in items),
        total_documents=sum(item.documents for item in items),
    )
    if request.loader == "native":
        prepare_targets(client, items, drop=request.mode == RestoreMode.DROP)
        stats = stream_documents(
            storage,
            entry,
            client,
            {item.member_key: item for item in items},
            tracker,
            insert_workers=request.insert_workers,
        )
        if request.indexes:
            outcome = build_indexes(client, items, request.parallel, keep_specs=request.keep_index_specs)
            result.indexes, result.index_changes, result.indexes_refused = (
                outcome.built,
                outcome.changes,
                outcome.refused,
            )
        create_views(client, items)
        result.documents = sum(stats.inserted.values())
        result.duplicates = sum(stats.duplicates.values())
    else:
        with tempfile.TemporaryDirectory(prefix="vaultui-restore-") as scratch:
            result.documents = mongorestore_archive(storage, entry, Path(scratch), target_uri, items, request)
    tracker.finish()


def run_restore(
    storage: Storage,
    target_uri: str,
    request: RestoreRequest,
    *,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
) -> RestoreResult:
    """Restores one archive into the target; see RestoreRequest. Verification happens before the target is
    touched, so a corrupt archive changes nothing. Recorded in the ledger with its duration vs the RTO."""
    details = {
        "mode": request.mode,
        "loader": request.loader,
        "rto_seconds": request.rto_seconds,
        "target": hosts_of(target_uri),
    }
    unrecorded: list[str] = []  # a read-only backup volume must not turn a good restore into a failure
    with recorded_run(
        storage, "restore", clock, [target_uri], record=not request.dry_run, unrecorded=unrecorded, details=details
    ) as record:
        request.validate()
        began = time.monotonic()
        entry, report, rejected = choose_verified(storage, request, progress, clock)
        record.archive = entry.name
        details["rejected"] = [name for name, _ in rejected]
        if report.not_restored:
            details["not_restored"] = report.not_restored
        items = plan_items(report, request)
        client = wait_until_ready(target_uri, request.wait_ready_seconds)
        try:
            existing = target_documents(client, items)
            plan = [
                PlannedNamespace(item.source, item.target, item.type, item.documents, existing[item.target])
                for item in items
            ]
            occupied = [entry_ for entry_ in plan if entry_.target_documents]
            result = RestoreResult(
                entry.name,
                "restored",
                plan,
                rejected=rejected,
                rto_seconds=request.rto_seconds,
                not_restored=report.not_restored,
                warnings=unrecorded,  # shared: a record that fails to be written at the end shows here too
            )
            if request.dry_run:
                result.status = "dry-run"
                return result
            refusal: TargetNotEmpty | None = None
            if occupied and request.mode != RestoreMode.DROP:
                listing = ", ".join(f"{item.target} ({item.target_documents} documents)" for item in occupied[:5])
                if request.mode == RestoreMode.IF_EMPTY:
                    result.status, record.result = "skipped", "skipped"
                    result.reason = f"the target already holds data in {listing}; nothing was restored"
                    details["reason"] = result.reason
                    result.record = record
                    return result
                refusal = TargetNotEmpty(
                    f"the target already holds data in {listing}: nothing was changed; restore in drop mode to "
                    "replace these collections, or in if-empty mode to skip when data exists",
                    setting="mode",
                )
                # Recorded as what it is (nothing changed), then raised once the record is written.
                record.result, record.error = RunResult.REFUSED, str(refusal)
            else:
                load_into(client, storage, entry, items, request, target_uri, result, progress)
        finally:
            client.close()
        if refusal is None:
            result.duration_seconds = round(time.monotonic() - began, 3)
            record.duration_seconds = result.duration_seconds
            record.documents = result.documents
            record.bytes = entry.size
            details.update(
                rto_met=result.rto_met, duplicates=result.duplicates, indexes=result.indexes, namespaces=len(items)
            )
            if result.index_changes:
                details["index_changes"] = result.index_changes
            if result.indexes_refused:
                details["indexes_refused"] = [f"{ns} {name}: {why}" for ns, name, why in result.indexes_refused]
    if refusal is not None:
        raise refusal
    result.record = record
    return result


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
