"""The state one restore run carries from step to step (instead of eight parameters on every call), and the
two steps every way of restoring shares: a second checked read that loads, and building the indexes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pymongo

from engine.archive.catalog import ArchiveEntry
from engine.common.clock import Clock, utc_now
from engine.common.errors import VerificationError
from engine.common.progress import ProgressCallback, ProgressTracker
from engine.common.states import RestoreMode
from engine.evidence.lease import StorageLease
from engine.evidence.verify import VerifyReport, verify_archive
from engine.restore.load import LoadItem, LoadSink, Resolver, build_indexes
from engine.restore.request import RestoreRequest
from engine.restore.result import RestoreResult
from engine.restore.staging import RestoreMarker
from engine.storage import Storage


@dataclass
class RestoreRun:
    """Where from, where to, what was asked, how to report; and what the target showed before anything was
    loaded: restores cut short there (`partial`), and the mode that follows (`mode`, and why: `redo`)."""

    storage: Storage
    client: pymongo.MongoClient[Any]
    request: RestoreRequest
    target_uri: str
    lease: StorageLease | None = None  # a drill loads into scratch databases only, under no lease
    clock: Clock = utc_now
    progress: ProgressCallback | None = None
    mode: RestoreMode = RestoreMode.GUARDED
    partial: list[dict[str, Any]] = field(default_factory=list)
    redo: str = ""

    def reading(self, archive: str) -> None:
        """Tells the lease which archive this run reads, so that a purge keeps it."""
        if self.lease is not None:
            self.lease.reading(archive)

    def new_marker(self, archive: str) -> RestoreMarker:
        """The in-progress marker of this run on the target (begun: a kill from here on is told apart)."""
        marker = RestoreMarker(self.client, uuid.uuid4().hex[:12], archive, self.clock)
        marker.begin()
        return marker

    def new_sink(self, resolver: Resolver) -> LoadSink:
        return LoadSink(self.client, resolver, ProgressTracker("restore-insert", None), self.request.insert_workers)

    def reread_and_load(self, entry: ArchiveEntry, first: VerifyReport, resolver: Resolver) -> LoadSink:
        """A second full read that loads what `resolver` picks; every collection it loads must read exactly as
        in the first read (sha256 of its documents), and the archive's bytes too, or nothing of it counts."""
        sink = self.new_sink(resolver)
        try:
            second = verify_archive(self.storage, entry, self.progress, sink=sink, phase="restore")
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

    def build_indexes(self, items: list[LoadItem], locations: dict[str, str], result: RestoreResult) -> None:
        """Builds the indexes (where `locations` says each target's documents are now) into `result`."""
        if self.request.indexes:
            outcome = build_indexes(
                self.client,
                items,
                self.request.parallel,
                keep_specs=self.request.keep_index_specs,
                locations=locations,
            )
            result.indexes, result.index_changes, result.indexes_refused = (
                outcome.built,
                outcome.changes,
                outcome.refused,
            )
