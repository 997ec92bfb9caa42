"""Where a base archive starts and ends on the oplog's clock: replay for a point in time begins at its start,
and it alone restores to its end. Read from its manifest (the dump's oplog span, else its run's seconds)."""

from __future__ import annotations

from bson import Timestamp

from engine.archive.catalog import ArchiveEntry
from engine.archive.manifest import Manifest
from engine.common.clock import parse_iso
from engine.storage import Storage


def base_start(storage: Storage, entry: ArchiveEntry) -> Timestamp:
    """Where replay begins for a base: its dump's oplog start when it recorded one, else its start second
    (entries of that second are replayed again: harmless)."""
    manifest = entry.manifest(storage)
    if manifest is not None and manifest.oplog_start:
        return Timestamp(int(manifest.oplog_start["t"]), int(manifest.oplog_start["i"]))
    started = parse_iso(manifest.started_at) if manifest is not None else entry.ref.time
    return Timestamp(int(started.timestamp()), 0)


def base_end(manifest: Manifest) -> Timestamp:
    """The time a base alone restores to: its dump's oplog end, else the second its run finished (a dump is
    fuzzy while it runs; replaying the oplog from its start to any time after its end makes it exact)."""
    if manifest.oplog_end:
        return Timestamp(int(manifest.oplog_end["t"]), int(manifest.oplog_end["i"]))
    return Timestamp(int(parse_iso(manifest.finished_at).timestamp()) + 1, 0)
