"""Restorable time: the seconds a restore can bring a database back to, from the base archives and the
captured oplog, and the recovery-point figures made of it (RPO, share of the window covered, gaps).

Everything here comes from listings, never from reading each chunk or manifest: a 60 s flush writes 1,440
chunks a day, and status, metrics and the dashboard must stay fast over 90 days of them. The figures are
conservative: a base counts from when its manifest was written (after its dump ended), replay from the
second its name gives (never after its dump began). `restore --to-time` then plans from the manifests
themselves and checks every link of the chain it uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bson import Timestamp

from engine.archive.catalog import ArchiveEntry, clock_skew
from engine.common.errors import VerificationError
from engine.common.states import ArchiveStatus
from engine.pitr.store import (
    ChunkRef,
    Gap,
    last_whole_second,
    list_chunk_refs,
    list_gaps,
    parse_stamp,
    read_chunk_manifest,
)
from engine.storage import Storage


@dataclass(frozen=True)
class Span:
    """Restorable time, both ends included. A base archive without oplog after it is a span of one instant."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Segment:
    """Chunks that follow one another without a hole: every entry after `after` up to `last`."""

    after: Timestamp
    last: Timestamp
    chunks: int = 0
    bytes: int = 0

    @property
    def end(self) -> datetime:
        """The newest second restorable whole: a time names every entry of its second (T:4294967295), and
        entries of the last entry's second may still come after it."""
        return last_whole_second(self.last)


@dataclass
class Coverage:
    spans: list[Span] = field(default_factory=list)  # merged, oldest first
    segments: list[Segment] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return sum(segment.chunks for segment in self.segments)

    @property
    def bytes(self) -> int:
        return sum(segment.bytes for segment in self.segments)

    @property
    def capturing(self) -> bool:
        """Whether the oplog is captured here at all (otherwise only the archives' own times restore)."""
        return bool(self.segments)

    @property
    def newest(self) -> datetime | None:
        return self.spans[-1].end if self.spans else None

    @property
    def newest_to_the_second(self) -> datetime | None:
        """The newest second a restore to a time reaches (the end of the newest range the oplog covers);
        an archive's own time is reached by restoring that archive."""
        ranges = [span for span in self.spans if span.seconds > 0]
        return ranges[-1].end if ranges else None

    @property
    def oldest(self) -> datetime | None:
        return self.spans[0].start if self.spans else None

    def rpo_seconds(self, now: datetime) -> float | None:
        """How much would be lost if the database died now: the time since the newest restorable second."""
        return max(0.0, (now - self.newest).total_seconds()) if self.newest is not None else None

    def covered_seconds(self, start: datetime, end: datetime) -> float:
        return sum(max(0.0, (min(span.end, end) - max(span.start, start)).total_seconds()) for span in self.spans)

    def share(self, start: datetime, end: datetime) -> float:
        """The fraction of [start, end] a restore can reach to the second."""
        length = (end - start).total_seconds()
        return self.covered_seconds(start, end) / length if length > 0 else 0.0

    def contains(self, moment: datetime) -> bool:
        return any(span.start <= moment <= span.end for span in self.spans)

    def nearest(self, moment: datetime) -> tuple[datetime | None, datetime | None]:
        """The restorable seconds closest to `moment`, before it and after it."""
        before = max((min(span.end, moment) for span in self.spans if span.start <= moment), default=None)
        after = min((span.start for span in self.spans if span.start >= moment), default=None)
        return before, after


def oplog_segments(storage: Storage, refs: list[ChunkRef], gaps: list[Gap]) -> list[Segment]:
    """Chunks grouped into runs without a hole. A capture resumes after the last committed chunk, so a chunk
    follows the one before it unless a gap was recorded between them; where a run begins, its first chunk's
    manifest says from where it covers (one read per run)."""
    breaks = sorted(parse_stamp(gap.after) for gap in gaps)
    segments: list[Segment] = []
    previous: ChunkRef | None = None
    for ref in refs:
        gap_between = previous is not None and any(previous.last <= point < ref.last for point in breaks)
        if previous is None or gap_between:
            segments.append(Segment(_covers_after(storage, ref), ref.last))
        segment = segments[-1]
        segment.last = max(segment.last, ref.last)
        segment.chunks += 1
        segment.bytes += ref.size
        previous = ref
    return segments


def _covers_after(storage: Storage, ref: ChunkRef) -> Timestamp:
    try:
        return read_chunk_manifest(storage, ref).after_ts
    except VerificationError:
        return ref.first  # an unreadable manifest: count from its first entry only (restore will refuse it)


def base_span(entry: ArchiveEntry, segments: list[Segment]) -> Span | None:
    """The time a base archive restores to: from the end of its run, up to where the oplog that covers its
    start without a hole reaches (only its own end when no capture covers it)."""
    if entry.committed is None:
        return None
    end = entry.committed.astimezone(UTC).replace(microsecond=0)
    began = int(entry.ref.time.timestamp())
    for segment in segments:
        # By the second: the name gives the second the dump began, its oplog start may be later within it
        # (a first capture begins exactly there).
        if segment.after.time <= began < segment.last.time:
            reach = segment.end
            return Span(end, max(end, reach))
    return Span(end, end)


def merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda span: (span.start, span.end)):
        if merged and span.start <= merged[-1].end + timedelta(seconds=1):
            if span.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def compute_coverage(
    storage: Storage, entries: list[ArchiveEntry], verifications: dict[str, bool], now: datetime
) -> Coverage:
    """Restorable time from complete archives not known to be corrupt nor stamped by a wrong clock."""
    gaps = list_gaps(storage)
    segments = oplog_segments(storage, list_chunk_refs(storage), gaps)
    bases = [
        entry
        for entry in entries
        if entry.status == ArchiveStatus.COMPLETE
        and verifications.get(entry.name) is not False
        and not clock_skew(entry, now)
    ]
    spans = [span for entry in bases if (span := base_span(entry, segments)) is not None]
    return Coverage(merge(spans), segments, gaps)


def describe_window(coverage: Coverage, now: datetime) -> str:
    """ "any second from 2026-08-27 00:00 UTC to 14 s ago", or what there is instead."""
    if not coverage.spans:
        return "nothing restorable yet"
    newest = coverage.newest
    assert newest is not None and coverage.oldest is not None
    ago = max(0, round((now - newest).total_seconds()))
    end = f"{ago} s ago" if ago < 3600 else f"{newest:%Y-%m-%d %H:%M:%S} UTC"
    ranges = [span for span in coverage.spans if span.seconds > 0]
    if not ranges:
        count = len(coverage.spans)
        why = "the oplog captured so far ends before" if coverage.capturing else "no oplog captured:"
        return f"{count} archive times from {coverage.oldest:%Y-%m-%d}, newest {end} ({why} none between)"
    holes = len(ranges) - 1
    within = f", {holes} hole{'s' if holes != 1 else ''}" if holes else ""
    before = f"; archive times from {coverage.oldest:%Y-%m-%d}" if coverage.oldest < ranges[0].start else ""
    return f"any second from {ranges[0].start:%Y-%m-%d %H:%M} UTC to {end}{within}{before}"


def compact_window(coverage: Coverage, now: datetime) -> str:
    """The same in a few words, for a narrow terminal."""
    ranges = [span for span in coverage.spans if span.seconds > 0]
    if not ranges:
        if not coverage.spans:
            return "nothing yet"
        return "archive times only" + ("" if coverage.capturing else " (no oplog)")
    holes = len(ranges) - 1
    return f"any second since {ranges[0].start:%m-%d %H:%M}" + (
        f", {holes} hole{'s' if holes != 1 else ''}" if holes else ""
    )
