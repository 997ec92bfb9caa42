"""The guard: what the target holds where the archive would land, and whether the restore may change it. A
guarded restore refuses when a restored collection holds data, if-empty skips, drop replaces; a restore cut
short on the target turns an if-empty restore into drop mode to finish the job."""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from engine.archive.catalog import ArchiveEntry
from engine.archive.manifest import Manifest
from engine.common.errors import SourceError, TargetNotEmpty
from engine.common.remap import rename, split_namespace
from engine.common.states import RestoreMode, RestoreStatus
from engine.evidence.verify import record_verdict, verify_archive
from engine.restore.choose import plan_items, rejection
from engine.restore.context import RestoreRun
from engine.restore.load import LoadItem
from engine.restore.request import RestoreRequest
from engine.restore.result import Attempt, PlannedNamespace, RestoreResult
from engine.restore.staging import describe


def target_documents(client: pymongo.MongoClient[Any], items: list[LoadItem]) -> dict[str, int]:
    counts = {}
    for item in items:
        database_name, collection_name = split_namespace(item.target)
        try:
            counts[item.target] = client[database_name][collection_name].count_documents({})
        except PyMongoError as error:
            raise SourceError(f"cannot read {item.target} in the target: {error}") from None
    return counts


def plan_for(client: pymongo.MongoClient[Any], items: list[LoadItem]) -> list[PlannedNamespace]:
    existing = target_documents(client, items)
    return [
        PlannedNamespace(item.source, item.target, item.type, item.documents, existing[item.target]) for item in items
    ]


def effective_mode(request: RestoreRequest, partial: list[dict[str, Any]]) -> tuple[RestoreMode, str]:
    """The mode to run in, and why when it is not the one asked for: an if-empty restore that finds a restore
    cut short while replacing collections redoes it in drop mode (a dry run only looks)."""
    if partial and request.mode == RestoreMode.IF_EMPTY and not request.dry_run:
        return RestoreMode.DROP, f"redone in drop mode because {describe(partial[0])}"
    return request.mode, ""


def guard(run: RestoreRun, plan: list[PlannedNamespace]) -> tuple[str, TargetNotEmpty | None]:
    """("skip", None) when if-empty finds data; ("", refusal) when guarded finds data; ("", None) to go on."""
    occupied = [entry for entry in plan if entry.target_documents]
    if not occupied or run.mode == RestoreMode.DROP:
        return "", None
    listing = ", ".join(f"{item.target} ({item.target_documents} documents)" for item in occupied[:5])
    if run.mode == RestoreMode.IF_EMPTY:
        return f"the target already holds data in {listing}; nothing was restored", None
    interrupted = f" ({describe(run.partial[0])}: that data may be partial)" if run.partial else ""
    return "", TargetNotEmpty(
        f"the target already holds data in {listing}{interrupted}: nothing was changed; restore in drop mode to "
        "replace these collections, or in if-empty mode to skip when data exists",
        setting="mode",
    )


def held_back(run: RestoreRun, result: RestoreResult, plan: list[PlannedNamespace]) -> Attempt | None:
    """The attempt that ends here when the guard stops the restore on `plan`; None to go on."""
    skip, refusal = guard(run, plan)
    if not skip and refusal is None:
        return None
    result.hold_back(skip, refusal)
    return Attempt(result=result, refusal=refusal)


def guard_first(run: RestoreRun, entry: ArchiveEntry, manifest: Manifest | None) -> Attempt | None:
    """The guard before anything is loaded: from the manifest's namespaces, or for an archive without one,
    after a verifying read (the only way to learn its namespaces). None when the restore may go on."""
    request = run.request
    if manifest is not None:
        chosen = [
            LoadItem(item.namespace, rename(item.namespace, request.renames), item.type, {}, item.documents)
            for item in manifest.collections
            if request.namespaces.accepts(item.namespace)
        ]
        not_restored: list[str] = []
    else:
        started = run.clock()
        report = verify_archive(run.storage, entry, None)
        record_verdict(run.storage, report, started, run.clock)
        if not report.ok:
            return Attempt(rejected=rejection(report))
        chosen, not_restored = plan_items(report, request), report.not_restored
    plan = plan_for(run.client, chosen)
    result = RestoreResult(
        entry.name, RestoreStatus.RESTORED, plan, rto_seconds=request.rto_seconds, not_restored=not_restored
    )
    return held_back(run, result, plan)
