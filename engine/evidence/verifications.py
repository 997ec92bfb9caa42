"""The verification evidence of archives: which ledger records count, each archive's newest verdict, and an
archive's state from its listing and that evidence. list, status, retention, restore and the dashboard all
read the same records."""

from __future__ import annotations

from collections.abc import Iterable

from engine.archive.catalog import ArchiveEntry
from engine.common.states import ArchiveState, RunKind, RunResult
from engine.evidence.ledger import RunRecord, read_runs, run_keys, select_keys
from engine.storage import Storage


def latest_verifications(runs: Iterable[RunRecord]) -> dict[str, bool]:
    """Archive name -> whether its newest verification passed (runs come newest first). A verify run counts,
    and so does the backup that made the archive when it read the archive back before committing it."""
    outcome: dict[str, bool] = {}
    for run in runs:
        if not run.archive or run.archive in outcome:
            continue
        if run.kind == RunKind.VERIFY:
            if run.result == RunResult.SUCCESS and run.details.get("contents_checked") is False:
                continue  # an encrypted archive's bytes only: the verdict on its contents stays where it was
            outcome[run.archive] = run.result == RunResult.SUCCESS
        elif run.kind == RunKind.BACKUP and run.result == RunResult.SUCCESS and run.details.get("read_back") is True:
            outcome[run.archive] = True
    return outcome


# How many of the newest verify records count as evidence of archives' states: enough for a `verify --all`
# over months of nightly archives; list, status and the dashboard all read the same ones.
VERIFICATION_EVIDENCE = 1000


def evidence_keys(keys: list[str]) -> list[str]:
    """The ledger records that are evidence of archives' states: the newest verify runs and the newest backups
    (whose read-back counts). list, status, retention and the dashboard all read these same ones."""
    return select_keys(keys, RunKind.VERIFY, limit=VERIFICATION_EVIDENCE) + select_keys(
        keys, RunKind.BACKUP, limit=VERIFICATION_EVIDENCE
    )


def dump_origins(runs: Iterable[RunRecord]) -> dict[str, str]:
    """Archive name -> what made its dump ("dumped from MongoDB 7.0 by mongodump 100.9"), as its backup recorded
    it or a verify read it from mongodump's prelude.json (old-pipeline archives have no manifest to say it)."""
    origins: dict[str, str] = {}
    for run in runs:
        made_by = run.details.get("made_by")
        if run.archive and run.archive not in origins and isinstance(made_by, str):
            origins[run.archive] = made_by
    return origins


def read_evidence(storage: Storage) -> list[RunRecord]:
    """The evidence records of a storage's archives (one ledger listing, then those records), newest first."""
    return read_runs(storage, evidence_keys(run_keys(storage)))


def read_verifications(storage: Storage) -> dict[str, bool]:
    """The verification evidence of a storage's archives."""
    return latest_verifications(read_evidence(storage))


def archive_state(entry: ArchiveEntry, verifications: dict[str, bool]) -> ArchiveState:
    """One archive's state from evidence: a hold first, then its newest verification, then its listing."""
    if entry.held:
        return ArchiveState.HELD
    if entry.name in verifications:
        return ArchiveState.VERIFIED if verifications[entry.name] else ArchiveState.CORRUPT
    return ArchiveState(entry.status)
