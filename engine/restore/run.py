"""One restore, told top to bottom: choose the archive (latest good, by name, or by day), verify it, guard the
target, load it, build indexes, replay what must follow, and record how long it took against the RTO.

Each step is a call into its own module: choose.py (the candidates and the first that verifies), guard.py
(what the target holds and whether it may change), single_pass.py (one read into staging, swapped over the
targets) or two_pass.py (verify, then load), and the ledger record at the end. The state they share is one
RestoreRun (context.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pymongo

from engine.common.clock import Clock, utc_now
from engine.common.errors import SourceError
from engine.common.progress import ProgressCallback
from engine.common.redact import hosts_of
from engine.common.states import RestoreStatus, RunKind, RunResult
from engine.evidence.lease import StorageLease
from engine.evidence.ledger import RunRecord, recorded_run
from engine.mongo.connect import connect
from engine.pitr.dump_oplog import replay_dump_oplog
from engine.restore.context import RestoreRun
from engine.restore.request import RestoreRequest
from engine.restore.result import RestoreOutcome, RestoreResult
from engine.restore.single_pass import restore_single_pass
from engine.restore.two_pass import restore_verified_first
from engine.storage import Storage, check_reachable

AfterLoad = Callable[[pymongo.MongoClient[Any]], dict[str, Any]]


def run_restore(
    storage: Storage,
    target_uri: str,
    request: RestoreRequest,
    *,
    progress: ProgressCallback | None = None,
    clock: Clock = utc_now,
    then: AfterLoad | None = None,
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
    recorded = recorded_run(
        storage, RunKind.RESTORE, clock, [target_uri], record=not request.dry_run, unrecorded=unrecorded,
        details=details,
    )  # fmt: skip
    with recorded as record:
        request.validate()
        began = time.monotonic()
        check_reachable(storage)  # cheap and local: the first error shown is the first one to fix
        client = wait_until_ready(target_uri, request.wait_ready_seconds)
        try:
            with StorageLease(storage, RunKind.RESTORE, exclusive=False, clock=clock) as lease:
                run = RestoreRun(storage, client, request, target_uri, lease, clock, progress)
                # Choose, verify, guard and load: in one read, or verified first and then loaded.
                if request.single_pass and not request.dry_run:
                    outcome = restore_single_pass(run)
                else:
                    outcome = restore_verified_first(run)
                # What must follow the load on the target: the archive's own oplog, a replay to a time.
                if outcome.loaded:
                    details.update(after_load(run, outcome, then))
        finally:
            client.close()
        unrecorded += lease.warnings
        outcome.result.warnings = unrecorded  # shared: a record that fails to be written at the end shows here
        record_outcome(record, details, outcome, began)
    if outcome.result.status == RestoreStatus.DRY_RUN:
        return outcome.result  # a preview shows what the guard would say; it refuses nothing
    if outcome.refusal is not None:
        raise outcome.refusal
    outcome.result.record = record
    return outcome.result


def wait_until_ready(uri: str, seconds: float) -> pymongo.MongoClient[Any]:
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


def after_load(run: RestoreRun, outcome: RestoreOutcome, then: AfterLoad | None) -> dict[str, Any]:
    """The oplog the archive carries (vaultui's own archives: an old-pipeline `mongodump --oplog` archive is
    loaded as mongorestore loads it by default, its oplog.bson replayed by hand with --oplogReplay), else the
    caller's replay to a time, which replays from the base's start through the chunks that hold these entries
    too (no second read of the archive for them)."""
    if then is not None:
        return then(run.client)
    manifest = outcome.entry.manifest(run.storage) if outcome.result.dump_oplog_entries else None
    if manifest is None or manifest.dump_oplog is None:
        return {}
    entry, request = outcome.entry, run.request
    replayed = replay_dump_oplog(run.client, run.storage, entry, manifest, request.namespaces, request.renames)
    return {"dump_oplog_entries": replayed}


def record_outcome(record: RunRecord, details: dict[str, Any], outcome: RestoreOutcome, began: float) -> None:
    """The ledger record of the restore: which archive, what was passed over, and for a restore that loaded its
    duration against the RTO (skips and refusals changed nothing and measure no recovery)."""
    result = outcome.result
    record.archive = outcome.entry.name
    details["rejected"] = [name for name, _ in result.rejected]
    if result.not_restored:
        details["not_restored"] = result.not_restored
    if result.reason:
        details["reason"] = result.reason
    if result.status == RestoreStatus.DRY_RUN:
        return
    if result.status == RestoreStatus.SKIPPED:
        record.result = RunResult.SKIPPED
    elif outcome.refusal is not None:
        record.result, record.error = RunResult.REFUSED, str(outcome.refusal)  # nothing changed; raised once recorded
        return
    else:
        result.duration_seconds = round(time.monotonic() - began, 3)
        record.duration_seconds = result.duration_seconds
        record.documents = result.documents
        record.bytes = outcome.entry.size
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
