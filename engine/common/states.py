"""The states the engine decides, as types: every face (CLI, dashboard, report, metrics) shows these values and
none recomputes them. StrEnum keeps them plain strings in JSON, the ledger and old records."""

from __future__ import annotations

from enum import StrEnum


class RunResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"  # e.g. restore --if-empty found data: nothing was changed
    REFUSED = "refused"  # a guarded restore found data and changed nothing: not a failed recovery


# Results that say nothing about recovery time: only real restores and drills count against the RTO.
NOT_A_RECOVERY = (RunResult.SKIPPED, RunResult.REFUSED)


class RunKind(StrEnum):
    """What a ledger record is of (its key and its `kind`)."""

    BACKUP = "backup"
    RESTORE = "restore"
    PURGE = "purge"
    DRILL = "drill"
    VERIFY = "verify"
    OPLOG = "oplog"  # a stretch of the oplog capture


class RestoreStatus(StrEnum):
    """What a restore did, as RestoreResult.status."""

    RESTORED = "restored"
    SKIPPED = "skipped"  # if-empty found data
    REFUSED = "refused"  # guarded found data
    DRY_RUN = "dry-run"  # looked only: nothing was loaded or recorded


class ArchiveStatus(StrEnum):
    """What an archive's listing alone says (ArchiveEntry.status); ArchiveState adds the evidence."""

    COMPLETE = "complete"  # has its manifest, the commit mark
    LEGACY = "legacy"  # made by the old shell pipeline: no manifest, none expected
    INCOMPLETE = "incomplete"  # no manifest: a run that never finished


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
