"""One restore: choose the archive (latest good, by name, or by day), verify it, guard the target, load it,
build indexes, and record how long it took against the recovery-time objective."""

from __future__ import annotations

import itertools
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from engine.archive.catalog import ArchiveEntry, find_archive, list_archives, stamped_in_future
from engine.archive.collection_files import NameScheme, UndecodableName, collection_from_stem
from engine.archive.manifest import Manifest
from engine.common.clock import Clock, utc_now
from engine.common.errors import ArchiveNotFound, ConfigError, SourceError, TargetNotEmpty, VerificationError
from engine.common.faults import checkpoint
from engine.common.progress import ProgressCallback, ProgressTracker
from engine.common.redact import hosts_of
from engine.common.states import RestoreAction, RestoreMode, RunResult, restore_action
from engine.evidence.lease import StorageLease
from engine.evidence.ledger import RunRecord, recorded_run
from engine.evidence.verify import (
    SERVER_MANAGED,
    VerifyReport,
    name_scheme,
    record_verdict,
    verify_and_record,
    verify_archive,
)
from engine.mongo.connect import NamespaceFilter, connect
from engine.mongo.remap import Rename, rename, split_namespace
from engine.mongo.tools import mongorestore_archive
from engine.pitr.dump_oplog import replay_dump_oplog
from engine.restore.load import (
    Deferred,
    Destination,
    LoadItem,
    LoadSink,
    Resolver,
    build_indexes,
    check_counts,
    create_views,
    prepare_targets,
)
from engine.restore.staging import (
    RestoreMarker,
    Swapper,
    cannot_rename,
    clear_covered,
    copy_collection,
    describe,
    drop_staging,
    partial_restores,
    staging_name,
    sweep_dead_runs,
)
from engine.sla.rto import DEFAULT_RTO_SECONDS, rto_met
from engine.storage import Storage, check_reachable
from engine.storage.errors import StorageFault, TransientFault

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
    dump_oplog_entries: int = 0  # in the archive's own oplog.bson: replayed once the collections are in

    @property
    def rto_met(self) -> bool:
        return rto_met(self.duration_seconds, self.rto_seconds)

    def hold_back(self, skip: str, refusal: TargetNotEmpty | None) -> None:
        """Marks a restore the guard stopped: skipped (if-empty found data) or refused (guarded mode)."""
        self.status, self.reason = ("skipped", skip) if skip else ("refused", str(refusal))


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


def future_stamped(storage: Storage, request: RestoreRequest, now: datetime) -> list[tuple[str, str]]:
    """Archives --latest passes over because their name is in the future (clock skew), each with why."""
    if not request.latest:
        return []
    return [
        (entry.name, f"stamped {entry.ref.time:%Y-%m-%d %H:%M} UTC, in the future: clock skew, not the latest")
        for entry in list_archives(storage)
        if entry.status != "incomplete" and stamped_in_future(entry, now)
    ]


def rejection(report: VerifyReport) -> str:
    """Why an archive was passed over: unreadable in the storage (a permission, a link), or its content."""
    reason = "; ".join(report.problems)
    return f"unreadable: {report.unreadable}" if report.unreadable else f"failed verification: {reason}"


def refused_archive(name: str, why: str) -> VerificationError:
    """The error when the one archive asked for cannot be used."""
    verdict, _, reason = why.partition(": ")
    return VerificationError(f"archive {name} {verdict}, nothing was changed: {reason}")


def choose_verified(
    storage: Storage,
    request: RestoreRequest,
    progress: ProgressCallback | None,
    clock: Clock,
    *,
    digests: bool = False,
) -> tuple[ArchiveEntry, VerifyReport, list[tuple[str, str]]]:
    """The first candidate that verifies in full, and the ones rejected on the way (each recorded). `digests`:
    each collection's order-free digest too (a drill compares the restored documents with it)."""
    now = clock()
    rejected = future_stamped(storage, request, now)
    for entry in candidates(storage, request, now):
        report = verify_and_record(storage, entry, progress=progress, clock=clock, digests=digests)
        if report.ok:
            return entry, report, rejected
        rejected.append((entry.name, rejection(report)))
        if not request.latest:
            raise refused_archive(entry.name, rejected[-1][1])
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


def direct_resolver(items: list[LoadItem]) -> Resolver:
    """Documents go straight into their prepared targets (the verify-first mode, drills)."""
    by_key = {item.member_key: item for item in items if item.type == "collection"}

    def resolve(database: str, stem: str, metadata: dict[str, Any] | None) -> Destination | None:
        item = by_key.get((database, stem))
        if item is None:
            return None
        target_database, target_collection = split_namespace(item.target)
        return Destination(target_database, target_collection, create=False)

    return resolve


def reread_and_load(
    storage: Storage,
    entry: ArchiveEntry,
    client: pymongo.MongoClient,
    first: VerifyReport,
    resolver: Resolver,
    insert_workers: int,
    progress: ProgressCallback | None,
) -> LoadSink:
    """A second full read that loads what `resolver` picks; every collection it loads must read exactly as in
    the first read (sha256 of its documents), and the archive's bytes too, or nothing of it counts."""
    sink = LoadSink(client, resolver, ProgressTracker("restore-insert", None), insert_workers)
    try:
        second = verify_archive(storage, entry, progress, sink=sink, phase="restore")
        sink.finish()
    except BaseException:
        sink.cancel()
        raise
    changed = [
        namespace
        for namespace, found in second.collections.items()
        if namespace in first.collections and found.sha256 != first.collections[namespace].sha256
    ]
    if second.problems or changed or second.archive_bytes != first.archive_bytes:
        reason = "; ".join(second.problems) or f"{', '.join(changed[:3]) or 'its size'} differ from the first read"
        raise VerificationError(f"{entry.name} changed between its two reads ({reason}): it cannot be trusted")
    return sink


def load_into(
    client: pymongo.MongoClient,
    storage: Storage,
    entry: ArchiveEntry,
    report: VerifyReport,
    items: list[LoadItem],
    request: RestoreRequest,
    target_uri: str,
    result: RestoreResult,
    progress: ProgressCallback | None,
) -> None:
    """Loads a verified archive's chosen namespaces straight into the targets with the requested loader (the
    second of two reads); fills in `result`'s counts."""
    if request.loader == "native":
        prepare_targets(client, items, drop=request.mode == RestoreMode.DROP)
        sink = reread_and_load(storage, entry, client, report, direct_resolver(items), request.insert_workers, progress)
        check_counts([(item, item.target) for item in items if item.type == "collection"], sink.stats)
        finish_collections(client, items, {}, request, result)
        result.documents = sum(sink.stats.inserted.values())
        result.duplicates = sum(sink.stats.duplicates.values())
    else:
        with tempfile.TemporaryDirectory(prefix="vaultui-restore-") as scratch:
            result.documents = mongorestore_archive(storage, entry, Path(scratch), target_uri, items, request)


def finish_collections(
    client: pymongo.MongoClient,
    items: list[LoadItem],
    locations: dict[str, str],
    request: RestoreRequest,
    result: RestoreResult,
) -> None:
    """Builds the indexes (where `locations` says each target's documents are now) into `result`."""
    if request.indexes:
        outcome = build_indexes(
            client, items, request.parallel, keep_specs=request.keep_index_specs, locations=locations
        )
        result.indexes, result.index_changes, result.indexes_refused = outcome.built, outcome.changes, outcome.refused


def staging_resolver(request: RestoreRequest, scheme: NameScheme, marker: RestoreMarker) -> Resolver:
    """Documents go into a fresh staging collection in their target's database; collections MongoDB cannot
    rename, and those whose name or options are only known later in the archive, wait for the read to end."""
    numbers = itertools.count(1)

    def resolve(database: str, stem: str, metadata: dict[str, Any] | None) -> Destination | Deferred | None:
        if metadata is not None and metadata.get("type", "collection") != "collection":
            return None  # views are made once the collections are in place
        try:
            name = collection_from_stem(stem, scheme, (metadata or {}).get("collectionName"))
        except UndecodableName:
            return (
                Deferred("its name is shortened and its metadata comes after its documents")
                if metadata is None
                else None
            )
        source = f"{database}.{name}"
        if name in SERVER_MANAGED or not request.namespaces.accepts(source):
            return None
        target_database, target_collection = split_namespace(rename(source, request.renames))
        if reason := cannot_rename(target_collection, metadata):
            return Deferred(reason)
        marker.add_database(target_database)
        return Destination(target_database, staging_name(marker.run_id, next(numbers)))

    return resolve


def effective_mode(request: RestoreRequest, partial: list[dict[str, Any]]) -> tuple[RestoreMode, str]:
    """The mode to run in, and why when it is not the one asked for: an if-empty restore that finds a restore
    cut short while replacing collections redoes it in drop mode (a dry run only looks)."""
    if partial and request.mode == RestoreMode.IF_EMPTY and not request.dry_run:
        return RestoreMode.DROP, f"redone in drop mode because {describe(partial[0])}"
    return request.mode, ""


def guard(
    request: RestoreRequest, mode: RestoreMode, plan: list[PlannedNamespace], partial: list[dict[str, Any]]
) -> tuple[str, TargetNotEmpty | None]:
    """("skip", None) when if-empty finds data; ("", refusal) when guarded finds data; ("", None) to go on."""
    occupied = [entry for entry in plan if entry.target_documents]
    if not occupied or mode == RestoreMode.DROP:
        return "", None
    listing = ", ".join(f"{item.target} ({item.target_documents} documents)" for item in occupied[:5])
    if mode == RestoreMode.IF_EMPTY:
        return f"the target already holds data in {listing}; nothing was restored", None
    interrupted = f" ({describe(partial[0])}: that data may be partial)" if partial else ""
    return "", TargetNotEmpty(
        f"the target already holds data in {listing}{interrupted}: nothing was changed; restore in drop mode to "
        "replace these collections, or in if-empty mode to skip when data exists",
        setting="mode",
    )


@dataclass
class Attempt:
    """The outcome of trying one archive: restored (result), refused/skipped (result + refusal), or rejected."""

    result: RestoreResult | None = None
    refusal: TargetNotEmpty | None = None
    rejected: str = ""


def plan_for(client: pymongo.MongoClient, items: list[LoadItem]) -> list[PlannedNamespace]:
    existing = target_documents(client, items)
    return [
        PlannedNamespace(item.source, item.target, item.type, item.documents, existing[item.target]) for item in items
    ]


def stage_and_swap(
    client: pymongo.MongoClient,
    storage: Storage,
    entry: ArchiveEntry,
    request: RestoreRequest,
    mode: RestoreMode,
    partial: list[dict[str, Any]],
    progress: ProgressCallback | None,
    clock: Clock,
) -> Attempt:
    """One read of `entry` that verifies it and loads it into staging collections at once; the targets are
    replaced only once the read verified end to end and every count matched. Any failure before the swap
    drops the staging collections and leaves the targets exactly as they were."""
    try:
        manifest = entry.manifest(storage)
    except (VerificationError, StorageFault) as error:
        if isinstance(error, TransientFault):
            raise
        manifest = None  # the read below reports the manifest's problem as this archive's
    if mode != RestoreMode.DROP:  # a sidecar restarting over live data must not load the archive to find out
        early = guard_first(client, storage, entry, manifest, request, mode, partial, clock)
        if early is not None:
            return early
    scheme = name_scheme(manifest)
    marker = RestoreMarker(client, uuid.uuid4().hex[:12], entry.name, clock)
    marker.begin()
    sink = LoadSink(
        client,
        staging_resolver(request, scheme, marker),
        ProgressTracker("restore-insert", None),
        request.insert_workers,
    )
    try:
        started = clock()
        report = verify_archive(storage, entry, progress, sink=sink, phase="restore")
        if report.ok:
            sink.finish()
        else:
            sink.cancel()
        record_verdict(storage, report, started, clock)
        checkpoint("restore.verified")
        if not report.ok:
            return Attempt(rejected=rejection(report))
        items = plan_items(report, request)
        plan = plan_for(client, items)
        result = RestoreResult(
            entry.name, "restored", plan, rto_seconds=request.rto_seconds, not_restored=report.not_restored
        )
        result.dump_oplog_entries = report.oplog_entries
        skip, refusal = guard(request, mode, plan, partial)
        if skip or refusal:
            result.hold_back(skip, refusal)
            return Attempt(result=result, refusal=refusal)
        locations, direct = place_collections(client, storage, entry, report, items, sink, marker, request, progress)
        finish_collections(client, items, locations, request, result)
        checkpoint("restore.staged")
        if mode != RestoreMode.DROP:  # data may have arrived while the archive loaded: look again
            skip, refusal = guard(
                request, mode, plan_for(client, [item for item in items if item.target not in direct]), partial
            )
            if skip or refusal:
                result.hold_back(skip, refusal)
                return Attempt(result=result, refusal=refusal)
        marker.set_state("swapping", [item.target for item in items])
        swapper = Swapper(client)
        by_target = {item.target: item for item in items}
        for target, staged in sorted(locations.items()):
            if staged != target and not swapper.swap(staged, target):
                copy_into_place(client, by_target[target], staged, request)
        create_views(client, items, replace=True)
        result.documents = sum(sink.stats.inserted.values()) + sum(count for target, count in direct.items())
        result.duplicates = sum(sink.stats.duplicates.values())
        clear_covered(client, marker.run_id, {item.target for item in items})
        marker.clear()
        marker.document["state"] = "done"
        checkpoint("restore.done")
        return Attempt(result=result)
    except BaseException:
        sink.cancel()
        if marker.partial:
            marker.stop()  # the marker stays: a target may be half-replaced, and the next restore must know
        raise
    finally:
        drop_staging(client, marker.document)
        if not marker.partial:
            marker.clear(best_effort=True)


def guard_first(
    client: pymongo.MongoClient,
    storage: Storage,
    entry: ArchiveEntry,
    manifest: Manifest | None,
    request: RestoreRequest,
    mode: RestoreMode,
    partial: list[dict[str, Any]],
    clock: Clock,
) -> Attempt | None:
    """The guard before anything is loaded: from the manifest's namespaces, or for an archive without one,
    after a verifying read (the only way to learn its namespaces). None when the restore may go on."""
    if manifest is not None:
        chosen = [
            LoadItem(item.namespace, rename(item.namespace, request.renames), item.type, {}, item.documents)
            for item in manifest.collections
            if request.namespaces.accepts(item.namespace)
        ]
        not_restored: list[str] = []
    else:
        started = clock()
        report = verify_archive(storage, entry, None)
        record_verdict(storage, report, started, clock)
        if not report.ok:
            return Attempt(rejected=rejection(report))
        chosen, not_restored = plan_items(report, request), report.not_restored
    plan = plan_for(client, chosen)
    skip, refusal = guard(request, mode, plan, partial)
    if not skip and refusal is None:
        return None
    result = RestoreResult(entry.name, "restored", plan, rto_seconds=request.rto_seconds, not_restored=not_restored)
    result.hold_back(skip, refusal)
    return Attempt(result=result, refusal=refusal)


def copy_into_place(client: pymongo.MongoClient, item: LoadItem, staged: str, request: RestoreRequest) -> None:
    """For a target name the server will not rename into: the verified staging copy is copied over it."""
    prepare_targets(client, [item], drop=True)
    copy_collection(client, staged, item.target)
    if request.indexes:  # built and counted on the staging copy already; the same specs again here
        build_indexes(client, [item], 1, keep_specs=request.keep_index_specs)


def place_collections(
    client: pymongo.MongoClient,
    storage: Storage,
    entry: ArchiveEntry,
    report: VerifyReport,
    items: list[LoadItem],
    sink: LoadSink,
    marker: RestoreMarker,
    request: RestoreRequest,
    progress: ProgressCallback | None,
) -> tuple[dict[str, str], dict[str, int]]:
    """Where each collection's documents are once the archive has verified: {target: staging namespace}, and
    the documents loaded straight into targets that cannot be staged. Collections the single read could not
    stage (options after data, names only known from later metadata, collections MongoDB will not rename) are
    loaded by a second read, checked against the first."""
    locations: dict[str, str] = {}
    loaded: list[tuple[LoadItem, str]] = []
    again: dict[tuple[str, str], Destination] = {}
    direct: dict[str, int] = {}
    for item in items:
        if item.type != "collection":
            continue
        landing = sink.landings.get(item.member_key)
        if landing is not None and landing.destination is not None and not landing.deferred:
            locations[item.target] = landing.destination.namespace
            loaded.append((item, landing.destination.namespace))
            continue
        target_database, target_collection = split_namespace(item.target)
        if cannot_rename(target_collection, item.metadata):  # straight into the target, under the marker
            destination = Destination(target_database, target_collection, create=False)
        else:
            marker.add_database(target_database)
            destination = Destination(target_database, staging_name(marker.run_id, 1000 + len(again)), create=False)
            locations[item.target] = destination.namespace
        again[item.member_key] = destination
    check_counts(loaded, sink.stats)
    if not again:
        return locations, direct
    by_key = {item.member_key: item for item in items}
    if any(destination.namespace == by_key[key].target for key, destination in again.items()):
        marker.set_state("loading", [item.target for item in items])  # targets change from here on
    for key, destination in again.items():
        item = by_key[key]
        if destination.namespace == item.target:
            prepare_targets(client, [item], drop=True)
        else:
            prepare_targets(client, [replace(item, target=destination.namespace)], drop=True)

    def resolve(database: str, stem: str, metadata: dict[str, Any] | None) -> Destination | None:
        return again.get((database, stem))

    second = reread_and_load(storage, entry, client, report, resolve, request.insert_workers, progress)
    check_counts([(by_key[key], destination.namespace) for key, destination in again.items()], second.stats)
    for key, destination in again.items():
        count = second.stats.inserted.get(destination.namespace, 0)
        if destination.namespace == by_key[key].target:
            direct[destination.namespace] = count
        else:
            sink.stats.add(destination.namespace, count, second.stats.duplicates.get(destination.namespace, 0))
    return locations, direct


def restore_single_pass(
    client: pymongo.MongoClient,
    storage: Storage,
    request: RestoreRequest,
    lease: StorageLease,
    progress: ProgressCallback | None,
    clock: Clock,
) -> tuple[ArchiveEntry, RestoreResult, TargetNotEmpty | None, list[tuple[str, str]]]:
    """Tries the candidates in order (latest first): the first that verifies while it loads is the one."""
    now = clock()
    sweep_dead_runs(client, now)
    partial = partial_restores(client)
    mode, redo = effective_mode(request, partial)
    rejected = future_stamped(storage, request, now)
    for entry in candidates(storage, request, now):
        lease.reading(entry.name)
        attempt = stage_and_swap(client, storage, entry, request, mode, partial, progress, clock)
        if attempt.rejected:
            rejected.append((entry.name, attempt.rejected))
            if not request.latest:
                raise refused_archive(entry.name, attempt.rejected)
            continue
        assert attempt.result is not None
        attempt.result.rejected = rejected
        if redo:
            attempt.result.reason = redo
        return entry, attempt.result, attempt.refusal, rejected
    raise VerificationError(
        f"no archive verified ({len(rejected)} tried, newest {rejected[0][0]}: {rejected[0][1]}); nothing was changed"
    )


def restore_verified_first(
    client: pymongo.MongoClient,
    storage: Storage,
    request: RestoreRequest,
    target_uri: str,
    lease: StorageLease,
    progress: ProgressCallback | None,
    clock: Clock,
) -> tuple[ArchiveEntry, RestoreResult, TargetNotEmpty | None, list[tuple[str, str]]]:
    """Two reads: verify the whole archive, then load it straight into the targets (dry runs; the
    mongorestore loader; servers that cannot rename collections). The marker covers the load."""
    entry, report, rejected = choose_verified(storage, request, progress, clock)
    lease.reading(entry.name)
    items = plan_items(report, request)
    partial = partial_restores(client)
    mode, redo = effective_mode(request, partial)
    plan = plan_for(client, items)
    result = RestoreResult(
        entry.name,
        "restored",
        plan,
        rejected=rejected,
        rto_seconds=request.rto_seconds,
        not_restored=report.not_restored,
        reason=redo,
        dump_oplog_entries=report.oplog_entries,
    )
    skip, refusal = guard(request, mode, plan, partial)
    if request.dry_run:
        result.status = "dry-run"
        return entry, result, refusal, rejected
    if skip or refusal:
        result.hold_back(skip, refusal)
        return entry, result, refusal, rejected
    marker = RestoreMarker(client, uuid.uuid4().hex[:12], entry.name, clock)
    marker.begin()
    marker.set_state("loading", [item.target for item in items])
    try:
        load_into(client, storage, entry, report, items, replace_mode(request, mode), target_uri, result, progress)
    except BaseException:
        marker.stop()
        raise
    clear_covered(client, marker.run_id, {item.target for item in items})
    marker.clear()
    return entry, result, None, rejected


def replace_mode(request: RestoreRequest, mode: RestoreMode) -> RestoreRequest:
    return request if mode == request.mode else replace(request, mode=mode)


def run_restore(
    storage: Storage,
    target_uri: str,
    request: RestoreRequest,
    *,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
    then: Callable[[pymongo.MongoClient], dict[str, Any]] | None = None,
) -> RestoreResult:
    """Restores one archive into the target; see RestoreRequest. The target changes only once the archive has
    verified: by default in one read into staging collections swapped over the targets at the end; with
    `two_pass` (or the mongorestore loader) after a full verifying read. Recorded in the ledger with its
    duration against the RTO; a guarded refusal is recorded as refused and raised. `then` runs on the target
    after a restore that loaded (the oplog replay of a restore to a time), inside the same run and record:
    its time counts against the RTO, its details are recorded, its failure fails the run."""
    details: dict[str, Any] = {
        "mode": request.mode,
        "loader": request.loader,
        "single_pass": request.single_pass,
        "rto_seconds": request.rto_seconds,
        "target": hosts_of(target_uri),
    }
    unrecorded: list[str] = []  # a read-only backup volume must not turn a good restore into a failure
    with recorded_run(
        storage, "restore", clock, [target_uri], record=not request.dry_run, unrecorded=unrecorded, details=details
    ) as record:
        request.validate()
        began = time.monotonic()
        check_reachable(storage)  # cheap and local: the first error shown is the first one to fix
        client = wait_until_ready(target_uri, request.wait_ready_seconds)
        try:
            with StorageLease(storage, "restore", exclusive=False, clock=clock) as lease:
                if request.single_pass and not request.dry_run:
                    entry, result, refusal, rejected = restore_single_pass(
                        client, storage, request, lease, progress, clock
                    )
                else:
                    entry, result, refusal, rejected = restore_verified_first(
                        client, storage, request, target_uri, lease, progress, clock
                    )
                if result.status == "restored" and refusal is None:
                    # A restore to a time replays from the base's start through the chunks, which hold
                    # these entries too: no second read of the archive for them.
                    manifest = entry.manifest(storage) if result.dump_oplog_entries and then is None else None
                    if manifest is not None and manifest.dump_oplog is not None:
                        # vaultui's own archives only: an old-pipeline `mongodump --oplog` archive is loaded as
                        # mongorestore loads it by default (its oplog.bson replays with --oplogReplay by hand).
                        details["dump_oplog_entries"] = replay_dump_oplog(
                            client, storage, entry, manifest, request.namespaces, request.renames
                        )
                    if then is not None:
                        details.update(then(client))
        finally:
            client.close()
        unrecorded += lease.warnings
        result.warnings = unrecorded  # shared: a record that fails to be written at the end shows here too
        record.archive = entry.name
        details["rejected"] = [name for name, _ in rejected]
        if result.not_restored:
            details["not_restored"] = result.not_restored
        if result.reason:
            details["reason"] = result.reason
        if result.status == "dry-run":
            return result
        if result.status == "skipped":
            record.result = RunResult.SKIPPED
        elif refusal is not None:
            record.result, record.error = RunResult.REFUSED, str(refusal)  # nothing changed; raised once recorded
        else:
            result.duration_seconds = round(time.monotonic() - began, 3)
            record.duration_seconds = result.duration_seconds
            record.documents = result.documents
            record.bytes = entry.size
            details.update(
                rto_met=result.rto_met,
                duplicates=result.duplicates,
                indexes=result.indexes,
                namespaces=len(result.plan),
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
