"""The single-pass restore (the native loader's default): one read of the archive verifies it and loads it into
fresh staging collections at once; the targets are replaced only once that read verified end to end and every
count matched. Any failure before the swap drops the staging collections and leaves the targets as they were."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from engine.archive.catalog import ArchiveEntry
from engine.archive.collection_files import NameScheme, UndecodableName, collection_from_stem
from engine.common.errors import VerificationError
from engine.common.faults import checkpoint
from engine.common.remap import rename, split_namespace
from engine.common.states import RestoreMode, RestoreStatus
from engine.evidence.verify import SERVER_MANAGED, VerifyReport, name_scheme, record_verdict, verify_archive
from engine.restore.choose import candidates, future_stamped, none_verified, plan_items, refused_archive, rejection
from engine.restore.context import RestoreRun
from engine.restore.guard import effective_mode, guard_first, held_back, plan_for
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
from engine.restore.request import RestoreRequest
from engine.restore.result import Attempt, RestoreOutcome, RestoreResult
from engine.restore.staging import (
    RestoreMarker,
    Swapper,
    cannot_rename,
    clear_covered,
    copy_collection,
    drop_staging,
    partial_restores,
    staging_name,
    sweep_dead_runs,
)
from engine.storage.errors import StorageFault, TransientFault


def restore_single_pass(run: RestoreRun) -> RestoreOutcome:
    """Tries the candidates in order (latest first): the first that verifies while it loads is the one."""
    now = run.clock()
    sweep_dead_runs(run.client, now)
    run.partial = partial_restores(run.client)
    run.mode, run.redo = effective_mode(run.request, run.partial)
    rejected = future_stamped(run.storage, run.request, now)
    for entry in candidates(run.storage, run.request, now):
        run.reading(entry.name)
        attempt = stage_and_swap(run, entry)
        if attempt.rejected:
            rejected.append((entry.name, attempt.rejected))
            if not run.request.latest:
                raise refused_archive(entry.name, attempt.rejected)
            continue
        assert attempt.result is not None
        attempt.result.rejected = rejected
        if run.redo:
            attempt.result.reason = run.redo
        return RestoreOutcome(entry, attempt.result, attempt.refusal)
    raise none_verified(rejected)


def stage_and_swap(run: RestoreRun, entry: ArchiveEntry) -> Attempt:
    """One read of `entry` into staging, then the guard again, then the swap over the targets."""
    try:
        manifest = entry.manifest(run.storage)
    except (VerificationError, StorageFault) as error:
        if isinstance(error, TransientFault):
            raise
        manifest = None  # the read below reports the manifest's problem as this archive's
    if run.mode != RestoreMode.DROP:  # a sidecar restarting over live data must not load the archive to find out
        early = guard_first(run, entry, manifest)
        if early is not None:
            return early
    marker = run.new_marker(entry.name)
    sink = run.new_sink(staging_resolver(run.request, name_scheme(manifest), marker))
    try:
        started = run.clock()
        report = verify_archive(run.storage, entry, run.progress, sink=sink, phase="restore")
        if report.ok:
            sink.finish()
        else:
            sink.cancel()
        record_verdict(run.storage, report, started, run.clock)
        checkpoint("restore.verified")
        if not report.ok:
            return Attempt(rejected=rejection(report))
        items = plan_items(report, run.request)
        plan = plan_for(run.client, items)
        result = RestoreResult(
            entry.name,
            RestoreStatus.RESTORED,
            plan,
            rto_seconds=run.request.rto_seconds,
            not_restored=report.not_restored,
            dump_oplog_entries=report.oplog_entries,
        )
        if stopped := held_back(run, result, plan):
            return stopped
        locations, direct = place_collections(run, entry, report, items, sink, marker)
        run.build_indexes(items, locations, result)
        checkpoint("restore.staged")
        if run.mode != RestoreMode.DROP:  # data may have arrived while the archive loaded: look again
            if stopped := held_back(run, result, plan_for(run.client, [i for i in items if i.target not in direct])):
                return stopped
        marker.set_state("swapping", [item.target for item in items])
        swapper = Swapper(run.client)
        by_target = {item.target: item for item in items}
        for target, staged in sorted(locations.items()):
            if staged != target and not swapper.swap(staged, target):
                copy_into_place(run, by_target[target], staged)
        create_views(run.client, items, replace=True)
        result.documents = sum(sink.stats.inserted.values()) + sum(direct.values())
        result.duplicates = sum(sink.stats.duplicates.values())
        clear_covered(run.client, marker.run_id, {item.target for item in items})
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
        drop_staging(run.client, marker.document)
        if not marker.partial:
            marker.clear(best_effort=True)


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


def copy_into_place(run: RestoreRun, item: LoadItem, staged: str) -> None:
    """For a target name the server will not rename into: the verified staging copy is copied over it."""
    prepare_targets(run.client, [item], drop=True)
    copy_collection(run.client, staged, item.target)
    if run.request.indexes:  # built and counted on the staging copy already; the same specs again here
        build_indexes(run.client, [item], 1, keep_specs=run.request.keep_index_specs)


def place_collections(
    run: RestoreRun,
    entry: ArchiveEntry,
    report: VerifyReport,
    items: list[LoadItem],
    sink: LoadSink,
    marker: RestoreMarker,
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
            prepare_targets(run.client, [item], drop=True)
        else:
            prepare_targets(run.client, [replace(item, target=destination.namespace)], drop=True)

    def resolve(database: str, stem: str, metadata: dict[str, Any] | None) -> Destination | None:
        return again.get((database, stem))

    second = run.reread_and_load(entry, report, resolve)
    check_counts([(by_key[key], destination.namespace) for key, destination in again.items()], second.stats)
    for key, destination in again.items():
        count = second.stats.inserted.get(destination.namespace, 0)
        if destination.namespace == by_key[key].target:
            direct[destination.namespace] = count
        else:
            sink.stats.add(destination.namespace, count, second.stats.duplicates.get(destination.namespace, 0))
    return locations, direct
