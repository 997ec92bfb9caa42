"""What a restore did: the plan of each namespace against the target, and the result the CLI, the dashboard,
a Job's log and the ledger record are made from."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.archive.catalog import ArchiveEntry
from engine.common.errors import TargetNotEmpty
from engine.common.states import RestoreAction, RestoreMode, RestoreStatus
from engine.evidence.ledger import RunRecord
from engine.sla.rto import DEFAULT_RTO_SECONDS, rto_met


@dataclass
class PlannedNamespace:
    source: str
    target: str
    type: str
    documents: int
    target_documents: int  # what the target holds there now

    def action(self, mode: str) -> RestoreAction:
        """What the restore does to this target collection in `mode`."""
        if not self.target_documents:
            return RestoreAction.RESTORE
        return RestoreAction.REPLACE if mode == RestoreMode.DROP else RestoreAction.REFUSE


@dataclass
class RestoreResult:
    """What happened (`status`), to which namespaces, with what counts."""

    archive: str
    status: RestoreStatus
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
        self.status, self.reason = (RestoreStatus.SKIPPED, skip) if skip else (RestoreStatus.REFUSED, str(refusal))


@dataclass
class Attempt:
    """The outcome of trying one archive: restored (result), refused/skipped (result + refusal), or rejected."""

    result: RestoreResult | None = None
    refusal: TargetNotEmpty | None = None
    rejected: str = ""


@dataclass
class RestoreOutcome:
    """A restore's end before it is recorded: the archive it used, its result, and the guard's refusal (raised
    once the refusal is recorded)."""

    entry: ArchiveEntry
    result: RestoreResult
    refusal: TargetNotEmpty | None = None

    @property
    def loaded(self) -> bool:
        return self.result.status == RestoreStatus.RESTORED and self.refusal is None
