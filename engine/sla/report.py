"""The monthly SLA report for an auditor: compliance with every missed slot, restores and drills against the
RTO, retention adherence, archive sizes over time. Built as plain data, rendered as JSON, Markdown or HTML."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from engine.archive.catalog import list_archives
from engine.archive.holds import read_holds
from engine.common.config import DEFAULT_TARGET_PERCENT
from engine.common.errors import ConfigError
from engine.common.states import NOT_A_RECOVERY, RunKind
from engine.evidence.ledger import check_ledger, list_runs
from engine.evidence.verifications import read_verifications
from engine.pitr.coverage import compute_coverage
from engine.sla.compliance import Evidence, Schedule, compute_compliance
from engine.sla.forecast import forecast_newest
from engine.sla.retention import RetentionPolicy
from engine.sla.retention_audit import GRACE, Verdict, judge_month
from engine.sla.rto import DEFAULT_RTO_SECONDS, recovery_met
from engine.storage import Storage

FORMATS = ("md", "html", "json")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"{month!r} is not a month: use YYYY-MM", setting="month") from None
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def build_report(
    storage: Storage,
    month: str,
    *,
    schedule: Schedule,
    policy: RetentionPolicy,
    now: datetime,
    rto_seconds: float = DEFAULT_RTO_SECONDS,
    target_percent: float = DEFAULT_TARGET_PERCENT,
) -> dict[str, Any]:
    start, end = month_bounds(month)
    if start > now:
        raise ConfigError(f"{month} has not started yet")
    runs = list_runs(storage)
    entries = list_archives(storage)
    compliance = compute_compliance(
        runs,
        schedule,
        now,
        window_start=start,
        window_end=end,
        target_percent=target_percent,
        evidence=Evidence.from_runs((entry.name for entry in entries), runs),
    )
    verifications = read_verifications(storage)
    fates = judge_month(start, end, now, runs, entries, read_holds(storage, entries), policy, verifications)
    ledger = check_ledger(storage)
    in_month = [run for run in runs if start <= run.started < end]
    recoveries = [
        {
            "kind": run.kind,
            **run.brief(),
            "rto_seconds": run.details.get("rto_seconds", rto_seconds),
            "rto_met": recovery_met(run, rto_seconds),
        }
        for run in sorted(in_month, key=lambda run: run.started)
        if run.kind in (RunKind.RESTORE, RunKind.DRILL) and run.result not in NOT_A_RECOVERY
    ]
    coverage = compute_coverage(storage, entries, verifications, now)
    until = min(end, now)
    forecast = forecast_newest(runs, entries, verifications, rto_seconds, now, coverage.capturing)
    return {
        "month": month,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "storage": storage.url,
        "schedule": {"cron": schedule.cron, "timezone": schedule.timezone},
        "compliance": {
            "target_percent": target_percent,
            "expected": compliance.expected,
            "met": compliance.met,
            "percent": None if compliance.percent is None else round(compliance.percent, 2),
            "target_met": not compliance.below_target,
            "missed": [{"slot": slot.start.isoformat(), "cause": slot.cause} for slot in compliance.missed],
        },
        "recovery": {
            "rto_seconds": rto_seconds,
            "runs": recoveries,
            "forecast": None
            if forecast is None
            else {
                "expected_seconds": round(forecast.expected_seconds, 1),
                "days_to_rto": None if forecast.days_to_rto is None else round(forecast.days_to_rto, 1),
                "text": forecast.describe(),
            },
        },
        "ledger": {
            "intact": ledger.intact,
            "checked": ledger.checked,
            "signed": ledger.signed,
            "problems": ledger.problems,
        },
        "retention": {
            "max_age_days": policy.max_age_days,
            "keep_last": policy.keep_last,
            "grace_days": GRACE.days,
            "judged_until": min(end, now).astimezone(UTC).isoformat(timespec="seconds"),
            "archives": [
                {
                    "archive": fate.archive,
                    "taken": fate.taken.isoformat(timespec="seconds"),
                    "due": fate.due.isoformat(timespec="seconds"),
                    "deleted": None if fate.deleted is None else fate.deleted.isoformat(timespec="seconds"),
                    "verdict": str(fate.verdict),
                    "detail": fate.detail,
                }
                for fate in fates
            ],
            "adherent": all(fate.adherent for fate in fates),
        },
        "recovery_point": {
            "oplog_captured": coverage.capturing,
            "share_of_month": round(coverage.share(start, until), 4),
            "spans": [
                {"from": max(span.start, start).isoformat(), "to": min(span.end, until).isoformat()}
                for span in coverage.spans
                if span.seconds > 0 and span.end >= start and span.start <= until
            ],
            "gaps": [
                {"from": gap.began.isoformat(), "to": gap.ended.isoformat(), "why": gap.reason}
                for gap in coverage.gaps
                if start <= gap.ended and gap.began < end
            ],
        },
        "archives": [
            {"archive": entry.name, "time": entry.ref.time.isoformat(), "bytes": entry.size, "status": entry.status}
            for entry in sorted(entries, key=lambda entry: entry.ref.time)
            if start <= entry.ref.time < end
        ],
    }


def render(report: dict[str, Any], form: str) -> str:
    return render_with(report, form, _markdown, _html)


def render_with(
    report: dict[str, Any],
    form: str,
    markdown: Callable[[dict[str, Any]], str],
    html_page: Callable[[dict[str, Any]], str],
) -> str:
    """The report in `form` (json, or md/html by the renderers given): one dispatch for every report."""
    if form == "json":
        return json.dumps(report, indent=1) + "\n"
    if form == "md":
        return markdown(report)
    if form == "html":
        return html_page(report)
    raise ConfigError(f"unknown report format {form!r}: choose one of {', '.join(FORMATS)}")


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def html_table(header: list[str], rows: list[list[str]]) -> list[str]:
    escape = html.escape
    parts = ["<table><tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in header) + "</tr>"]
    parts += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    return [*parts, "</table>"]


def html_head(title: str) -> list[str]:
    """The page's opening, up to its body (the same style for every report)."""
    return [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}</style>",
        "</head><body>",
    ]


def sections(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """Each section as (title, header, rows, sentences): shared by the Markdown and HTML renderers."""
    compliance, recovery, retention = report["compliance"], report["recovery"], report["retention"]
    percent = "no data" if compliance["percent"] is None else f"{compliance['percent']:.2f} %"
    verdict = "met" if compliance["target_met"] else "NOT met"
    summary = [
        f"Backup compliance: {percent} ({compliance['met']} of {compliance['expected']} scheduled backups), "
        f"target {compliance['target_percent']:.0f} %: {verdict}.",
        f"Schedule: `{report['schedule']['cron']}` ({report['schedule']['timezone']}).",
        (
            f"Ledger: intact, {report['ledger']['checked']} records checked "
            f"({'chain and signatures' if report['ledger']['signed'] else 'chain; records are not signed'})."
            if report["ledger"]["intact"]
            else f"Ledger: BROKEN: {'; '.join(report['ledger']['problems'][:3])}."
        ),
    ]
    missed = [[row["slot"], row["cause"]] for row in compliance["missed"]]
    runs = [
        [
            row["kind"],
            row["started"],
            row["archive"] or "",
            row["result"],
            f"{row['duration_seconds']:.1f}",
            f"{row['rto_seconds']:.0f}",
            "yes" if row["rto_met"] else "NO",
        ]
        for row in recovery["runs"]
    ]
    fates = retention["archives"]
    counts = {verdict: sum(row["verdict"] == verdict for row in fates) for verdict in Verdict}
    retention_text = [
        f"Policy: delete after {retention['max_age_days']} days"
        + (f", keep the last {retention['keep_last']}" if retention["keep_last"] else "")
        + f"; a deletion within {retention['grace_days']} day of the limit is on time (the purge runs daily).",
        f"Retention adherence: {'met' if retention['adherent'] else 'NOT met'}. Judged per archive from the "
        f"ledger's purge records up to {retention['judged_until']}: "
        + ", ".join(f"{count} {verdict}".lower() for verdict, count in counts.items() if count)
        + ("" if fates else "no archive reached its limit")
        + ". Holds and verifications are as recorded now.",
    ]
    past = [
        [row["archive"], row["due"], row["deleted"] or "not deleted", row["verdict"], row["detail"]] for row in fates
    ]
    sizes = [[row["archive"], row["time"], str(row["bytes"]), row["status"]] for row in report["archives"]]
    forecast = report["recovery"]["forecast"]
    forecast_text = (
        f"Forecast: {forecast['text']}." if forecast else "Forecast: none until a restore or drill has been measured."
    )
    point = report["recovery_point"]
    spans = [[row["from"], row["to"], "restorable to the second"] for row in point["spans"]]
    spans += [[row["from"], row["to"], f"GAP: {row['why']}"] for row in point["gaps"]]
    spans.sort(key=lambda row: row[0])  # spans and gaps in time order
    point_text = (
        [
            f"Restorable to the second: {point['share_of_month'] * 100:.2f} % of the month "
            f"({len(point['gaps'])} gap{'' if len(point['gaps']) == 1 else 's'} in the captured oplog)."
        ]
        if point["oplog_captured"]
        else ["No oplog is captured: a restore reaches only the archives' own times (RPO up to a schedule slot)."]
    )
    return [
        ("Compliance", [], [], summary),
        ("Missed slots", ["slot", "cause"], missed, [] if missed else ["None."]),
        (
            "Restores and drills",
            ["kind", "started", "archive", "result", "seconds", "RTO s", "RTO met"],
            runs,
            ([] if runs else ["None this month."]) + [forecast_text],
        ),
        ("Retention adherence", ["archive", "limit reached", "deleted", "verdict", "detail"], past, retention_text),
        ("Point in time", ["from", "to", "what"], spans, point_text),
        ("Archives this month", ["archive", "time", "bytes", "status"], sizes, [] if sizes else ["None."]),
    ]


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# vaultui SLA report — {report['month']}",
        "",
        f"Storage: {report['storage']}. Generated {report['generated_at']}.",
        "",
    ]
    for title, header, rows, sentences in sections(report):
        lines += [f"## {title}", ""]
        lines += [sentence for sentence in sentences] + ([""] if sentences else [])
        if rows:
            lines += [*md_table(header, rows), ""]
    return "\n".join(lines)


def code_spans(text: str) -> str:
    """Markdown's `code` as HTML (the sentences are shared with the Markdown rendering)."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", text)


def _html(report: dict[str, Any]) -> str:
    escape = html.escape
    parts = [
        *html_head(f"vaultui SLA report {report['month']}"),
        f"<h1>vaultui SLA report — {escape(report['month'])}</h1>",
        f"<p>Storage: {escape(report['storage'])}. Generated {escape(report['generated_at'])}.</p>",
    ]
    for title, header, rows, sentences in sections(report):
        parts.append(f"<h2>{escape(title)}</h2>")
        parts += [f"<p>{code_spans(escape(sentence))}</p>" for sentence in sentences]
        if rows:
            parts += html_table(header, rows)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
