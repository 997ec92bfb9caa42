"""The RTO forecast: a restore's time fitted from the ledger's restores and drills, and the day archive growth
takes it past the RTO. Exact figures on made-up histories, then what status, the report and metrics say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.evidence.ledger import RunRecord
from engine.sla.forecast import archive_growth, fit_restores, forecast_rto

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
MIB = 1024 * 1024


def run(kind: str, days_ago: float, size: int, seconds: float, result: str = "success", **details: object) -> RunRecord:
    started = NOW - timedelta(days=days_ago)
    return RunRecord(
        kind,
        started.isoformat(),
        (started + timedelta(seconds=seconds)).isoformat(),
        result,
        bytes=size,
        duration_seconds=seconds,
        details=dict(details),
    )


def test_a_fixed_cost_and_a_rate_are_fitted_from_restores_of_different_sizes() -> None:
    # 20 s of fixed cost and 2 s per MiB, exactly.
    runs = [run("restore", 30, 100 * MIB, 220), run("drill", 20, 200 * MIB, 420), run("restore", 10, 50 * MIB, 120)]
    fixed, per_byte, samples = fit_restores(runs)
    assert samples == 3 and fixed == pytest.approx(20) and per_byte * MIB == pytest.approx(2)


def test_failed_refused_and_replay_time_do_not_count() -> None:
    runs = [
        run("restore", 3, 100 * MIB, 100, replay_seconds=60.0),  # 40 s of load; the rest replayed the oplog
        run("restore", 2, 100 * MIB, 5000, result="failure"),
        run("restore", 1, 100 * MIB, 1, result="refused"),
    ]
    fixed, per_byte, samples = fit_restores(runs)
    assert (samples, fixed) == (1, 0.0) and per_byte * 100 * MIB == pytest.approx(40)


def test_the_newest_restores_set_the_rate_once_restores_got_faster() -> None:
    # Thirty restores at 2 s per MiB, then ten at 1 s per MiB (a faster loader): the forecast follows the ten.
    slow = [run("restore", 60 - day, 100 * MIB, 200) for day in range(30)]
    fast = [run("restore", 10 - day, 100 * MIB, 100) for day in range(10)]
    fixed, per_byte, samples = fit_restores(slow + fast)
    assert (samples, fixed) == (10, 0.0) and per_byte * MIB == pytest.approx(1)
    forecast = forecast_rto(fast[::-1] + slow, 300 * MIB, 600, NOW)
    assert forecast is not None and forecast.expected_seconds == pytest.approx(300)


def test_sizes_too_close_to_fit_give_the_observed_rate() -> None:
    runs = [run("restore", day, 100 * MIB, seconds) for day, seconds in ((3, 90), (2, 110), (1, 100))]
    fixed, per_byte, _ = fit_restores(runs)
    assert fixed == 0.0 and per_byte * 100 * MIB == pytest.approx(100)


def test_growth_and_the_day_restores_pass_the_rto() -> None:
    # Archives grow 10 MiB a day (1,000 MiB 19 days ago, 1,190 MiB today); restores take 20 s + 2 s per MiB, so
    # the RTO of 3,000 s is reached at 1,490 MiB: (1,490 - 1,190) / 10 = 30 days from now.
    backups = [run("backup", day, (1000 + 10 * (19 - day)) * MIB, 60) for day in range(20)]
    restores = [run("restore", 40, 100 * MIB, 220), run("drill", 35, 200 * MIB, 420), run("drill", 33, 50 * MIB, 120)]
    assert archive_growth(backups) == pytest.approx(10 * MIB)
    forecast = forecast_rto(backups + restores, 1190 * MIB, 3000, NOW)
    assert forecast is not None
    assert forecast.expected_seconds == pytest.approx(20 + 2 * 1190)
    assert forecast.days_to_rto == pytest.approx(30)
    assert forecast.exceeds_on == NOW + timedelta(days=30)
    assert forecast.describe().endswith("restores pass the RTO of 50m00s in ~30 days (2026-12-26)")


def test_no_restore_yet_no_forecast_and_past_the_rto_says_so() -> None:
    assert forecast_rto([run("backup", 1, MIB, 60)], MIB, 600, NOW) is None
    forecast = forecast_rto([run("restore", 1, 100 * MIB, 700)], 100 * MIB, 600, NOW)
    assert forecast is not None and not forecast.within_rto and forecast.days_to_rto == 0.0
    assert "PAST the RTO of 10m00s already" in forecast.describe()


def test_a_nearly_flat_growth_gives_no_date_and_no_absurd_horizon() -> None:
    """A byte a day put the horizon at ~2,513,326,975 days in an on-call session: past ten years it is said so."""
    backups = [run("backup", day, 100 * MIB + (19 - day), 60) for day in range(20)]  # a byte a day
    forecast = forecast_rto([*backups, run("restore", 30, 100 * MIB, 60)], 100 * MIB, 600, NOW)
    assert forecast is not None and forecast.days_to_rto > 36_500 and forecast.exceeds_on is None
    assert forecast.describe().endswith("restores stay within the RTO of 10m00s for more than ten years")
    assert " days" not in forecast.describe()


def test_shrinking_archives_are_not_growing() -> None:
    backups = [run("backup", day, 100 * MIB + day * MIB, 60) for day in range(20)]  # smaller every day
    forecast = forecast_rto([*backups, run("restore", 30, 100 * MIB, 60)], 100 * MIB, 600, NOW)
    assert forecast is not None and "archives are not growing" in forecast.describe()


def test_the_forecast_counts_the_replay_of_a_restore_to_the_newest_time() -> None:
    """Right after a 2m05s restore to a time that replayed 7,762 entries, the forecast said "about 1.0 s":
    it now forecasts the base's load and the replay of what was captured since the newest base, at the
    measured replay rate."""
    restore_to_time = run("restore", 0.01, 10 * MIB, 125, oplog_entries=7762, replay_seconds=120.0)
    capture = RunRecord(
        "oplog",
        (NOW - timedelta(hours=6)).isoformat(),
        NOW.isoformat(),
        "success",
        documents=21_600,  # an entry a second, for six hours
        duration_seconds=21_600,
    )
    runs = [restore_to_time, capture]
    forecast = forecast_rto(runs, 10 * MIB, 600, NOW, captured_since=NOW - timedelta(hours=2))
    assert forecast is not None and forecast.expected_seconds == pytest.approx(5)  # the base: 125 - 120 s
    assert forecast.entries_to_now == 7200  # two hours at an entry a second
    assert forecast.to_now_seconds == pytest.approx(5 + 7200 * 120 / 7762)
    assert "to the newest time (+~7,200 oplog entries) about 1m56s" in forecast.describe()
    without_replay = forecast_rto(
        [run("restore", 1, 10 * MIB, 5), capture], 10 * MIB, 600, NOW, NOW - timedelta(hours=2)
    )
    assert without_replay is not None and "also replays ~7,200 oplog entries (no replay measured yet)" in (
        without_replay.describe()
    )


def test_too_few_backups_to_tell_growth() -> None:
    forecast = forecast_rto([run("restore", 1, 100 * MIB, 60), run("backup", 1, 100 * MIB, 60)], 100 * MIB, 600, NOW)
    assert forecast is not None and forecast.growth_bytes_per_day is None and forecast.days_to_rto is None
    assert "not enough backup sizes on record yet to tell how archives grow" in forecast.describe()
