"""The states the engine decides, as types: every face (CLI, dashboard, report, metrics) shows these values and
none recomputes them. StrEnum keeps them plain strings in JSON, the ledger and old records."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from engine.archive.catalog import ArchiveEntry
    from engine.evidence.ledger import RunRecord
    from engine.storage import Storage


class RunResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"  # e.g. restore --if-empty found data: nothing was changed
    REFUSED = "refused"  # a guarded restore found data and changed nothing: not a failed recovery


# Results that say nothing about recovery time: only real restores and drills count against the RTO.
NOT_A_RECOVERY = (RunResult.SKIPPED, RunResult.REFUSED)


class SlotStatus(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"


class PurgeAction(StrEnum):
    KEEP = "keep"
    DELETE = "delete"


class RestoreMode(StrEnum):
    GUARDED = "guarded"  # refuse when a restored collection already holds data
    DROP = "drop"  # replace the restored collections
    IF_EMPTY = "if-empty"  # do nothing when data exists (restart hooks)


class RestoreAction(StrEnum):
    """What a restore does to one target collection."""

    RESTORE = "restore"  # the target is empty
    REPLACE = "replace"  # it holds data, and the mode drops it
    REFUSE = "refuse"  # it holds data, and the mode keeps it: the restore is refused (or skipped)


class ArchiveState(StrEnum):
    HELD = "held"
    CORRUPT = "corrupt"  # its newest verification failed
    VERIFIED = "verified"  # its newest verification passed
    COMPLETE = "complete"  # has its manifest (the commit mark), not verified since
    LEGACY = "legacy"  # made by the old shell pipeline: no manifest
    INCOMPLETE = "incomplete"  # no manifest: a run that never finished


def restore_action(target_documents: int, mode: str) -> RestoreAction:
    if not target_documents:
        return RestoreAction.RESTORE
    return RestoreAction.REPLACE if mode == RestoreMode.DROP else RestoreAction.REFUSE


def latest_verifications(runs: Iterable[RunRecord]) -> dict[str, bool]:
    """Archive name -> whether its newest verification passed (runs come newest first). A verify run counts,
    and so does the backup that made the archive when it read the archive back before committing it."""
    outcome: dict[str, bool] = {}
    for run in runs:
        if not run.archive or run.archive in outcome:
            continue
        if run.kind == "verify":
            if run.result == RunResult.SUCCESS and run.details.get("contents_checked") is False:
                continue  # an encrypted archive's bytes only: the verdict on its contents stays where it was
            outcome[run.archive] = run.result == RunResult.SUCCESS
        elif run.kind == "backup" and run.result == RunResult.SUCCESS and run.details.get("read_back") is True:
            outcome[run.archive] = True
    return outcome


# How many of the newest verify records count as evidence of archives' states: enough for a `verify --all`
# over months of nightly archives; list, status and the dashboard all read the same ones.
VERIFICATION_EVIDENCE = 1000


def evidence_keys(keys: list[str]) -> list[str]:
    """The ledger records that are evidence of archives' states: the newest verify runs and the newest backups
    (whose read-back counts). list, status, retention and the dashboard all read these same ones."""
    from engine.evidence.ledger import select_keys

    return select_keys(keys, "verify", limit=VERIFICATION_EVIDENCE) + select_keys(
        keys, "backup", limit=VERIFICATION_EVIDENCE
    )


def read_verifications(storage: Storage) -> dict[str, bool]:
    """The verification evidence of a storage's archives (one ledger listing, then the evidence records)."""
    from engine.evidence.ledger import read_runs, run_keys

    return latest_verifications(read_runs(storage, evidence_keys(run_keys(storage))))


def archive_state(entry: ArchiveEntry, verifications: dict[str, bool]) -> ArchiveState:
    """One archive's state from evidence: a hold first, then its newest verification, then its listing."""
    if entry.held:
        return ArchiveState.HELD
    if entry.name in verifications:
        return ArchiveState.VERIFIED if verifications[entry.name] else ArchiveState.CORRUPT
    return ArchiveState(entry.status)
