"""The two-pass restore: a full verifying read first, then a second read, checked against the first, loads
straight into the targets under the in-progress marker. Dry runs (the first read only), the mongorestore
loader, and servers that cannot rename collections take this way."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from engine.archive.catalog import ArchiveEntry
from engine.common.remap import split_namespace
from engine.common.states import RestoreMode, RestoreStatus
from engine.evidence.verify import VerifyReport
from engine.restore.choose import choose_verified, plan_items
from engine.restore.context import RestoreRun
from engine.restore.guard import effective_mode, guard, plan_for
from engine.restore.load import Destination, LoadItem, Resolver, check_counts, prepare_targets
from engine.restore.mongorestore import mongorestore_archive
from engine.restore.result import RestoreOutcome, RestoreResult
from engine.restore.staging import clear_covered, partial_restores


def restore_verified_first(run: RestoreRun) -> RestoreOutcome:
    """Verify the whole archive, guard, then load it straight into the targets. The marker covers the load."""
    entry, report, rejected = choose_verified(run.storage, run.request, run.progress, run.clock)
    run.reading(entry.name)
    items = plan_items(report, run.request)
    run.partial = partial_restores(run.client)
    run.mode, run.redo = effective_mode(run.request, run.partial)
    plan = plan_for(run.client, items)
    result = RestoreResult(
        entry.name,
        RestoreStatus.RESTORED,
        plan,
        rejected=rejected,
        rto_seconds=run.request.rto_seconds,
        not_restored=report.not_restored,
        reason=run.redo,
        dump_oplog_entries=report.oplog_entries,
    )
    skip, refusal = guard(run, plan)
    if run.request.dry_run:
        result.status = RestoreStatus.DRY_RUN
        return RestoreOutcome(entry, result, refusal)
    if skip or refusal:
        result.hold_back(skip, refusal)
        return RestoreOutcome(entry, result, refusal)
    marker = run.new_marker(entry.name)
    marker.set_state("loading", [item.target for item in items])
    try:
        load_into(run, entry, report, items, result)
    except BaseException:
        marker.stop()
        raise
    clear_covered(run.client, marker.run_id, {item.target for item in items})
    marker.clear()
    return RestoreOutcome(entry, result)


def load_into(
    run: RestoreRun, entry: ArchiveEntry, report: VerifyReport, items: list[LoadItem], result: RestoreResult
) -> None:
    """Loads a verified archive's chosen namespaces straight into the targets with the requested loader (the
    second of two reads, in the mode the run goes in); fills in `result`'s counts."""
    if run.request.loader == "native":
        prepare_targets(run.client, items, drop=run.mode == RestoreMode.DROP)
        sink = run.reread_and_load(entry, report, direct_resolver(items))
        check_counts([(item, item.target) for item in items if item.type == "collection"], sink.stats)
        run.build_indexes(items, {}, result)
        result.documents = sum(sink.stats.inserted.values())
        result.duplicates = sum(sink.stats.duplicates.values())
    else:
        with tempfile.TemporaryDirectory(prefix="vaultui-restore-") as scratch:
            result.documents = mongorestore_archive(run, entry, Path(scratch), items)


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
