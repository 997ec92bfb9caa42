"""Restore to a point in time, the one entry the CLI, the dashboard and a restore Job take: the planned base
archive restored as any archive is (verified, guarded, staged), then the oplog entries from the base's start
up to and including the time replayed onto it, in one recorded run. Replaying entries the base already holds
changes nothing: oplog entries are idempotent."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pymongo

from engine.common.clock import Clock, utc_now
from engine.common.errors import ConfigError
from engine.common.namespaces import BothFilters
from engine.common.progress import ProgressCallback
from engine.pitr.apply import OplogApplier
from engine.pitr.chunks import read_entries
from engine.pitr.plan import PointInTime, plan_point_in_time
from engine.pitr.store import timestamp_time
from engine.restore.request import RestoreRequest
from engine.restore.result import RestoreResult
from engine.restore.run import run_restore
from engine.storage import Storage


class RestoresInWindow(ConfigError):
    """A restore to a time across restores vaultui ran, not confirmed."""


def to_time_request(request: RestoreRequest, to_time: str, *, across_restores: bool = False) -> RestoreRequest:
    """The same request aimed at a time: it names no archive, the plan chooses the base."""
    return replace(request, latest=True, archive=None, day=None, to_time=to_time, across_restores=across_restores)


def restore_to_time(
    storage: Storage,
    target_uri: str,
    request: RestoreRequest,
    *,
    plan: PointInTime | None = None,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
) -> RestoreResult:
    """Restores `request.to_time` (the request's mode and filters): `plan` is the one the caller showed, else
    planned here. Refused, changing nothing, when restores ran within the replayed stretch
    (PointInTime.interference) unless `request.across_restores`. A dry run previews the base's restore."""
    if not request.to_time:
        raise ConfigError("a restore to a time needs the time (--to-time)", setting="to_time")
    if plan is None:
        plan = plan_point_in_time(storage, request.to_time, now=clock())
    if plan.restores_between and not request.across_restores and not request.dry_run:
        raise RestoresInWindow(plan.interference(), setting="across_restores")
    base_request = replace(request, latest=False, day=None, archive=plan.base.name)
    if request.dry_run:
        return run_restore(storage, target_uri, base_request, progress=progress, clock=clock)

    manifest = plan.base.manifest(storage)
    scope = manifest.scope_filter() if manifest is not None else None
    # Within what the base was made to cover: the oplog holds every database's writes, the archive may not.
    namespaces = BothFilters(request.namespaces, scope) if scope is not None else request.namespaces

    def replay(client: pymongo.MongoClient[Any]) -> dict[str, Any]:
        began = time.monotonic()
        applier = OplogApplier(client, namespaces, request.renames)
        for entry in read_entries(storage, plan.after, plan.until, plan.chunks):
            applier.apply(dict(entry))
        seconds = time.monotonic() - began
        plan.entries = applier.stats.applied + applier.stats.skipped
        return {
            "to_time": f"{timestamp_time(plan.until):%Y-%m-%dT%H:%M:%SZ}",
            "to_timestamp": f"{plan.until.time}:{plan.until.inc}",
            "oplog_chunks": len(plan.chunks),
            "oplog_entries": plan.entries,
            "replay_seconds": round(seconds, 3),
            "caveats": plan.caveats,
            "across_restores": [run.started_at for run in plan.restores_between],
        }

    return run_restore(storage, target_uri, base_request, progress=progress, clock=clock, then=replay)
