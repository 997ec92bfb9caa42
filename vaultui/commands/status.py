"""`status`: compliance, archives, recovery point and time, in text or --json; the exit code says
whether the SLA holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import humanize

from engine.archive.catalog import clock_skew
from engine.common.states import RunKind
from engine.evidence.ledger import RunRecord
from engine.sla.status import StatusSummary
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.formatting import duration_text, gaps_text, recovery_line
from vaultui.output import print_json


def brief(run: RunRecord | None) -> dict[str, object] | None:
    """A run in the four fields the monthly report uses too (RunRecord.brief), or None."""
    return None if run is None else run.brief()


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `status` (the settings they set are resolved into the context's Settings)."""

    json: bool = False
    fleet_file: str | None = None  # --fleet given (a FILE, or '' for the fleet setting's)
    storage: str | None = None  # as typed: refused beside --fleet


def run(options: Options, context: Context) -> ExitCode:
    if options.fleet_file is not None:
        return run_fleet(options, context)
    storage = context.storage()
    with context.metrics_after(storage):
        summary = context.summary(storage)
    if options.json:
        print_json(status_json(summary), indent=1)
    else:
        print_status(summary)
    if summary.compliance.below_target or summary.compliance.stale:
        return ExitCode.COMPLIANCE_BELOW_TARGET
    return ExitCode.RPO_EXCEEDED if summary.rpo_exceeded else ExitCode.OK


def status_json(summary: StatusSummary) -> dict[str, object]:
    """`status --json`: every figure of the summary, as plain JSON values."""
    compliance = summary.compliance
    return {
        "compliance_percent": None if compliance.percent is None else round(compliance.percent, 2),
        "target_percent": compliance.target_percent,
        "expected": compliance.expected,
        "met": compliance.met,
        "stale": compliance.stale,
        "missed": [{"slot": slot.start.isoformat(), "cause": slot.cause} for slot in compliance.missed],
        "last_success": compliance.last_success.isoformat() if compliance.last_success else None,
        "next_slot": compliance.next_slot.isoformat() if compliance.next_slot else None,
        "archives": len(summary.archives),
        "total_bytes": summary.total_bytes,
        "newest": summary.newest.name if summary.newest else None,
        "oldest": summary.oldest.name if summary.oldest else None,
        "next_purge": summary.next_purge.isoformat() if summary.next_purge else None,
        "rto_seconds": summary.rto_seconds,
        "last_restore": brief(summary.last("restore")),
        "last_drill": brief(summary.last("drill")),
        "unfinished_writes": [
            {"key": item.key, "started": item.modified.isoformat(), "bytes": item.size} for item in summary.unfinished
        ],
        "leases": [
            {
                "kind": lease.kind,
                "run_id": lease.run_id,
                "host": lease.host,
                "since": lease.acquired_at,
                "expires": lease.expires_at,
                "expired": lease.expired(summary.now),
                "archives": lease.archives,
            }
            for lease in summary.leases
        ],
        "broken": summary.broken,
        "unopenable": summary.unopenable,
        "ledger": None
        if summary.ledger is None
        else {"intact": summary.ledger.intact, "problems": summary.ledger.problems},
        "restorable": {
            "spans": [{"from": span.start.isoformat(), "to": span.end.isoformat()} for span in summary.coverage.spans],
            "share_of_window": round(summary.restorable_share, 4),
            "rpo_seconds": summary.rpo_seconds,
            "rpo_limit_seconds": summary.rpo_limit,
            "rpo_exceeded": summary.rpo_exceeded,
            "oplog_chunks": summary.coverage.chunks,
            "oplog_bytes": summary.coverage.bytes,
            "gaps": [{"after": gap.after, "resumed": gap.resumed} for gap in summary.coverage.gaps],
        },
        "forecast": None
        if summary.forecast is None
        else {
            "samples": summary.forecast.samples,
            "fixed_seconds": round(summary.forecast.fixed_seconds, 3),
            "seconds_per_gib": round(summary.forecast.seconds_per_byte * 1024**3, 3),
            "newest_bytes": summary.forecast.newest_bytes,
            "expected_seconds": round(summary.forecast.expected_seconds, 1),
            "growth_bytes_per_day": summary.forecast.growth_bytes_per_day,
            "days_to_rto": summary.forecast.days_to_rto,
            "text": summary.forecast.describe(),
        },
        "healthy": summary.healthy,
    }


def print_status(summary: StatusSummary) -> None:
    """`status` as text: one labelled line per figure, the problems under it."""
    compliance = summary.compliance
    percent = None if compliance.percent is None else round(compliance.percent, 2)
    now = summary.now
    shown = "no data (no scheduled backup was due yet)" if percent is None else f"{percent:.2f} %"
    print(
        f"compliance   {shown} ({compliance.met}/{compliance.expected} slots, target "
        f"{compliance.target_percent:.0f} %){'  BELOW TARGET' if compliance.below_target else ''}"
    )
    last = compliance.last_success
    print(
        f"last success {f'{last:%Y-%m-%d %H:%M} UTC ({humanize.naturaltime(now - last)})' if last else 'never'}"
        f"{'  STALE: the newest scheduled backup did not succeed' if compliance.stale else ''}"
    )
    for slot in compliance.missed[:10]:
        print(f"  missed {slot.start:%Y-%m-%d %H:%M}: {slot.cause}")
    print(
        f"archives     {len(summary.archives)}, {humanize.naturalsize(summary.total_bytes, binary=True)}; "
        f"newest {summary.newest.name if summary.newest else '-'}, "
        f"oldest {summary.oldest.name if summary.oldest else '-'}"
    )
    print(f"next purge   {summary.next_purge:%Y-%m-%d}" if summary.next_purge else "next purge   none due")
    _print_recovery_point(summary)
    skewed = [(entry.name, why) for entry in summary.archives if (why := clock_skew(entry, now))]
    if skewed:
        print(
            f"clock skew   {len(skewed)} archives whose name disagrees with the clocks (check the clock of the "
            "host that wrote them; one named in the future is never the latest, never protected):"
        )
        for name, why in skewed[:5]:
            print(f"  {name}: {why}")
    if summary.unfinished:
        oldest = min(item.modified for item in summary.unfinished)
        print(
            f"unfinished   {len(summary.unfinished)} writes of killed or running runs, oldest started "
            f"{oldest:%Y-%m-%d %H:%M} UTC (the next backup removes those older than 12 h)"
        )
    if summary.ledger is not None:
        print(f"ledger       {summary.ledger.summary().removeprefix('ledger ')}")
    if summary.unopenable:
        print(
            f"KEYS         {len(summary.unopenable)} encrypted archives no configured age identity opens "
            f"(keep the old identity in the file until they age out): {', '.join(summary.unopenable[:3])}"
        )
    if summary.broken:
        print(f"broken       {len(summary.broken)} files skipped as unreadable (each affects only itself):")
        for item in summary.broken[:5]:
            print(f"  {item}")
    for lease in summary.leases:
        if not lease.expired(now):
            print(f"running      {lease.describe()}")
        elif lease in summary.interrupted_restores:
            print(
                f"INTERRUPTED  {lease.describe()} died before it finished: check its target (one cut short "
                "while replacing collections left a marker there, which an if-empty restore redoes); unlock "
                "clears this line"
            )
        else:
            print(f"dead lease   {lease.describe()}: that run died (the next run takes the lease over)")
    for kind in (RunKind.RESTORE, RunKind.DRILL):
        run = summary.last(kind)
        if run is None:
            print(f"last {kind:<8}none")
        else:
            print(f"last {kind:<8}{recovery_line(run, summary.rto_seconds)}")
    print(f"forecast     {summary.forecast.describe() if summary.forecast else 'none until a restore or drill ran'}")


def _long_duration(seconds: float) -> str:
    return duration_text(seconds) if seconds < 3600 else humanize.precisedelta(timedelta(seconds=seconds))


def _print_recovery_point(summary: StatusSummary) -> None:
    from engine.pitr.coverage import describe_window

    coverage = summary.coverage
    print(
        f"restorable   {describe_window(coverage, summary.now)}; {summary.restorable_share * 100:.2f} % of the "
        f"last {summary.window_days} days"
    )
    rpo = summary.rpo_seconds
    limit = f" (threshold {_long_duration(summary.rpo_limit)})" if summary.rpo_limit is not None else ""
    shown = "none: nothing is restorable" if rpo is None else _long_duration(rpo)
    print(f"rpo          {shown}{limit}{'  EXCEEDED' if summary.rpo_exceeded else ''}")
    if coverage.capturing:
        print(
            f"oplog        {humanize.intcomma(coverage.chunks)} chunks, "
            f"{humanize.naturalsize(coverage.bytes, binary=True)}, {gaps_text(len(coverage.gaps))}"
        )
    for gap in coverage.gaps[-5:]:
        print(
            f"  GAP {gap.began:%Y-%m-%d %H:%M:%S} to {gap.ended:%Y-%m-%d %H:%M:%S} UTC: {gap.reason} (no restore to "
            "a time inside it)"
        )


def run_fleet(options: Options, context: Context) -> ExitCode:
    """`status --fleet`: one line per deployment, worst first; non-zero when any is below target (named on
    stderr), or, failing none, when a storage did not answer."""
    import sys

    from engine.fleet.rows import RowState, load_rows
    from vaultui.fleet_cells import text_table

    fleet = context.fleet(options.fleet_file, options.storage)
    now = datetime.now(UTC)
    rows = load_rows(fleet.deployments, now, deadline=context.settings.fleet_deadline)
    if options.json:
        print_json({"fleet": str(fleet.path), "deployments": [row.as_json() for row in rows]}, indent=1)
    else:
        print(text_table(rows, now))
    failing = [row.name for row in rows if row.state == RowState.FAILING]
    down = [row.name for row in rows if row.state == RowState.DOWN]
    problems = ([f"below target: {', '.join(failing)}"] if failing else []) + (
        [f"storage not answering: {', '.join(down)}"] if down else []
    )
    if problems:
        print(f"vaultui: {'; '.join(problems)}", file=sys.stderr)
    if failing:
        return ExitCode.COMPLIANCE_BELOW_TARGET
    return ExitCode.STORAGE if down else ExitCode.OK
