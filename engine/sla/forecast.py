"""How long a restore should take, and when restores will pass the RTO as archives grow: the one model of
restore duration (status, the report, the dashboard and a restore to a time's preview all use it).

All of it comes from the ledger: restores and drills record the archive's size and how long they took
(a restore to a time also its replay: entries and seconds), backups the size of each archive they made, and
the oplog capture how many entries it wrote over how long. A load's time is fitted as fixed cost + size / rate
(least squares once sizes vary, else the observed rate alone), a replay's as entries × the measured seconds
per entry; growth as a straight line through the window's archive sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from humanize import naturalsize

from engine.archive.catalog import ArchiveEntry
from engine.common.clock import duration_text
from engine.common.states import ArchiveStatus, RunKind
from engine.evidence.ledger import RunRecord

# Fewer restores than this, or sizes within this spread, and the fit has no slope to trust: rate alone.
MIN_FIT_SAMPLES = 3
MIN_SIZE_SPREAD = 1.2  # largest / smallest
MIN_GROWTH_SAMPLES = 5
MIN_GROWTH_DAYS = 3.0
# Only the newest restores and drills are fitted: a faster restore (a new vaultui, another loader, a bigger
# target) shows in the forecast within this many runs, instead of being outvoted by what no longer runs.
RECENT_SAMPLES = 10
# Past this, a horizon is said as "more than ten years", never as a number of days a near-flat line gives.
HORIZON_DAYS = 3650


@dataclass(frozen=True)
class RtoForecast:
    samples: int  # restores and drills the fit is made from
    fixed_seconds: float  # per restore, whatever the size (connection, index builds, the swap)
    seconds_per_byte: float
    newest_bytes: int
    rto_seconds: float
    growth_bytes_per_day: float | None = None  # None: too few backups to tell
    now: datetime | None = None
    seconds_per_entry: float | None = None  # the measured replay rate (None: no restore to a time yet)
    entries_to_now: int | None = None  # oplog entries a restore to the newest time would replay (estimated)

    @property
    def expected_seconds(self) -> float:
        return self.seconds_for(self.newest_bytes)

    def seconds_for(self, size: float) -> float:
        return self.fixed_seconds + size * self.seconds_per_byte

    @property
    def within_rto(self) -> bool:
        return self.expected_seconds <= self.rto_seconds

    @property
    def bytes_at_rto(self) -> float:
        """The archive size whose restore would take the whole RTO."""
        return max(0.0, (self.rto_seconds - self.fixed_seconds) / self.seconds_per_byte)

    @property
    def days_to_rto(self) -> float | None:
        """Days until the newest archive's restore passes the RTO at the current growth; None when archives do
        not grow (or growth is unknown), 0 when it already does."""
        if not self.within_rto:
            return 0.0
        if not self.growth_bytes_per_day or self.growth_bytes_per_day <= 0:
            return None
        return (self.bytes_at_rto - self.newest_bytes) / self.growth_bytes_per_day

    @property
    def exceeds_on(self) -> datetime | None:
        """The date, when within the horizon (a near-flat growth line puts it millions of days away)."""
        days = self.days_to_rto
        if days is None or self.now is None or days > HORIZON_DAYS:
            return None
        return self.now + timedelta(days=days)

    @property
    def to_now_seconds(self) -> float | None:
        """A restore to the newest restorable time: the base's load plus the replay of what was captured since."""
        if not self.entries_to_now or self.seconds_per_entry is None:
            return None
        return self.expected_seconds + self.entries_to_now * self.seconds_per_entry

    def _replay_text(self) -> str:
        if not self.entries_to_now:
            return ""
        entries = f"~{self.entries_to_now:,} oplog entries"
        if self.to_now_seconds is None:
            return f"; a restore to the newest time also replays {entries} (no replay measured yet)"
        past = "" if self.to_now_seconds <= self.rto_seconds else f", PAST the RTO of {duration_text(self.rto_seconds)}"
        return f"; to the newest time (+{entries}) about {duration_text(self.to_now_seconds)}{past}"

    def describe(self) -> str:
        """One sentence for status, the report and the dashboard."""
        measured = "restore or drill" if self.samples == 1 else "restores and drills"
        text = (
            f"restoring the newest archive ({naturalsize(self.newest_bytes, binary=True)}) should take about "
            f"{duration_text(self.expected_seconds)} (from {self.samples} measured {measured})"
        )
        text += self._replay_text()
        rto = duration_text(self.rto_seconds)
        if not self.within_rto:
            return f"{text}: PAST the RTO of {rto} already"
        if self.growth_bytes_per_day is None:
            return f"{text}; not enough backup sizes on record yet to tell how archives grow"
        if self.growth_bytes_per_day <= 0:
            return f"{text}; archives are not growing, so restores stay within the RTO of {rto}"
        days = self.days_to_rto or 0.0
        growth = f"at current growth (+{naturalsize(self.growth_bytes_per_day, binary=True)} a day)"
        if days > HORIZON_DAYS:
            return f"{text}; {growth} restores stay within the RTO of {rto} for more than ten years"
        when = f" ({self.exceeds_on:%Y-%m-%d})" if self.exceeds_on else ""
        return f"{text}; {growth} restores pass the RTO of {rto} in ~{days:,.0f} days{when}"


def fit_restores(runs: list[RunRecord]) -> tuple[float, float, int] | None:
    """(fixed seconds, seconds per byte, samples) from the newest RECENT_SAMPLES successful restores and drills
    that recorded a size."""
    measured = [
        run
        for run in runs
        if run.kind in (RunKind.RESTORE, RunKind.DRILL) and run.succeeded and run.bytes and load_seconds(run) > 0
    ]
    measured.sort(key=lambda run: run.started, reverse=True)
    points = [(float(run.bytes), load_seconds(run)) for run in measured[:RECENT_SAMPLES]]
    if not points:
        return None
    sizes = [size for size, _ in points]
    if len(points) >= MIN_FIT_SAMPLES and max(sizes) >= MIN_SIZE_SPREAD * min(sizes):
        mean_size = sum(sizes) / len(points)
        mean_seconds = sum(seconds for _, seconds in points) / len(points)
        spread = sum((size - mean_size) ** 2 for size in sizes)
        slope = sum((size - mean_size) * (seconds - mean_seconds) for size, seconds in points) / spread
        fixed = mean_seconds - slope * mean_size
        if slope > 0 and fixed >= 0:
            return fixed, slope, len(points)
    # Too little spread (or a fit that says bigger restores are faster): the observed rate, no fixed part.
    return 0.0, sum(seconds for _, seconds in points) / sum(sizes), len(points)


def load_seconds(run: RunRecord) -> float:
    """A restore's time without its oplog replay (a restore to a time replays as much as the time asks)."""
    replay = run.details.get("replay_seconds") if isinstance(run.details, dict) else None
    return run.duration_seconds - (float(replay) if isinstance(replay, int | float) else 0.0)


def replay_rate(runs: list[RunRecord]) -> float | None:
    """Seconds per replayed entry, from the newest restores to a time that recorded their replay."""
    rates = [
        float(run.details["replay_seconds"]) / float(run.details["oplog_entries"])
        for run in runs
        if run.kind == RunKind.RESTORE
        and run.succeeded
        and isinstance(run.details, dict)
        and isinstance(run.details.get("oplog_entries"), int | float)
        and run.details.get("oplog_entries")
        and isinstance(run.details.get("replay_seconds"), int | float)
    ][:5]
    return sorted(rates)[len(rates) // 2] if rates else None


def capture_rate(runs: list[RunRecord]) -> float | None:
    """Entries per second the oplog capture wrote lately (its ledger records: entries over their stretch)."""
    stretches = [
        (run.documents, run.duration_seconds)
        for run in runs
        if run.kind == RunKind.OPLOG and run.documents and run.duration_seconds
    ][:5]
    seconds = sum(duration for _, duration in stretches)
    return sum(entries for entries, _ in stretches) / seconds if seconds else None


def restore_seconds(runs: list[RunRecord], size: int, entries: int = 0) -> float | None:
    """How long a restore of an archive of `size` bytes plus a replay of `entries` should take (a restore to a
    time's preview); None before the needed kinds were measured."""
    fitted = fit_restores(runs)
    if fitted is None:
        return None
    fixed, per_byte, _ = fitted
    per_entry = replay_rate(runs)
    if entries and per_entry is None:
        return None
    return fixed + size * per_byte + entries * (per_entry or 0.0)


def archive_growth(backups: list[RunRecord]) -> float | None:
    """Bytes per day the archives grow by, a least-squares line through successful backups' sizes."""
    points = [(run.started.timestamp() / 86400, float(run.bytes)) for run in backups if run.succeeded and run.bytes]
    if len(points) < MIN_GROWTH_SAMPLES:
        return None
    days = [day for day, _ in points]
    if max(days) - min(days) < MIN_GROWTH_DAYS:
        return None
    mean_day = sum(days) / len(points)
    mean_size = sum(size for _, size in points) / len(points)
    spread = sum((day - mean_day) ** 2 for day in days)
    return sum((day - mean_day) * (size - mean_size) for day, size in points) / spread


def newest_good(archives: list[ArchiveEntry], verifications: dict[str, bool]) -> ArchiveEntry | None:
    """The newest archive a restore would pick: complete, and not failed its newest verification."""
    return next(
        (
            entry
            for entry in archives
            if entry.status != ArchiveStatus.INCOMPLETE and verifications.get(entry.name, True)
        ),
        None,
    )


def forecast_newest(
    runs: list[RunRecord],
    archives: list[ArchiveEntry],
    verifications: dict[str, bool],
    rto_seconds: float,
    now: datetime,
    capturing: bool,
) -> RtoForecast | None:
    """The forecast status and the report show: the newest good archive, and the replay to now when the
    oplog is captured."""
    newest = newest_good(archives, verifications)
    if newest is None:
        return None
    return forecast_rto(runs, newest.size, rto_seconds, now, captured_since=newest.ref.time if capturing else None)


def forecast_rto(
    runs: list[RunRecord],
    newest_bytes: int | None,
    rto_seconds: float,
    now: datetime,
    captured_since: datetime | None = None,
) -> RtoForecast | None:
    """The forecast for an archive of `newest_bytes`, or None before any restore or drill was measured.
    `captured_since`: where the oplog capture runs, the newest base's time; the entries captured since then
    (estimated at the capture's recent rate) are what a restore to the newest time would replay."""
    fitted = fit_restores(runs)
    if fitted is None or not newest_bytes:
        return None
    fixed, per_byte, samples = fitted
    growth = archive_growth([run for run in runs if run.kind == RunKind.BACKUP])
    entries = None
    if captured_since is not None and (rate := capture_rate(runs)):
        entries = round(rate * max(0.0, (now - captured_since).total_seconds()))
    return RtoForecast(samples, fixed, per_byte, newest_bytes, rto_seconds, growth, now, replay_rate(runs), entries)
