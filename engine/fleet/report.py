"""The monthly SLA report of a whole fleet: a summary page (one line per deployment: its compliance against
its own target, recoveries against its RTO, ledger and retention) and then each deployment's own report, as
`report` writes it for one. A deployment whose storage fails or does not answer gets a section saying so;
the others are reported whole."""

from __future__ import annotations

import functools
import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.common.errors import ConfigError, VaultError
from engine.sla.report import build_report, code_spans, html_head, html_table, md_table, render_with, sections

if TYPE_CHECKING:
    from engine.fleet.file import Deployment, Fleet

REPORT_DEADLINE_SECONDS = 120.0  # a whole month's ledger is more than a status row reads


def build_fleet_report(
    fleet: Fleet, month: str, now: datetime, deadline: float = REPORT_DEADLINE_SECONDS
) -> dict[str, Any]:
    from engine.fleet.deadline import NoAnswer, call_within

    deployments: list[dict[str, Any]] = []
    for deployment in fleet.deployments:
        try:
            report = call_within(functools.partial(_one, deployment, month, now), deadline)
            deployments.append({"deployment": deployment.name, "report": report})
        except NoAnswer:
            deployments.append(
                {"deployment": deployment.name, "error": f"its storage did not answer within {deadline:.0f} s"}
            )
        except ConfigError as error:
            if "has not started yet" in str(error):
                raise
            deployments.append({"deployment": deployment.name, "error": str(error)})
        except VaultError as error:
            deployments.append({"deployment": deployment.name, "error": str(error)})
    return {
        "month": month,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "fleet": str(fleet.path),
        "summary": [_summary_line(item) for item in deployments],
        "deployments": deployments,
    }


def _one(deployment: Deployment, month: str, now: datetime) -> dict[str, Any]:
    from engine.run_options import retention_policy, schedule

    settings = deployment.settings
    storage = deployment.open_storage()
    return build_report(
        storage,
        month,
        schedule=schedule(settings),
        policy=retention_policy(settings),
        now=now,
        rto_seconds=settings.rto_seconds,
        target_percent=settings.target_percent,
    )


def _summary_line(item: dict[str, Any]) -> dict[str, Any]:
    if "error" in item:
        return {"deployment": item["deployment"], "error": item["error"]}
    report = item["report"]
    compliance, recovery = report["compliance"], report["recovery"]
    runs = recovery["runs"]
    return {
        "deployment": item["deployment"],
        "storage": report["storage"],
        "compliance_percent": compliance["percent"],
        "target_percent": compliance["target_percent"],
        "target_met": compliance["target_met"],
        "missed": len(compliance["missed"]),
        "recoveries": len(runs),
        "recoveries_within_rto": sum(1 for run in runs if run["rto_met"]),
        "ledger_intact": report["ledger"]["intact"],
        "retention_adherent": report["retention"]["adherent"],
    }


def _summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    header = ["Deployment", "Compliance", "Target", "Met", "Missed slots", "Recoveries in RTO", "Ledger", "Retention"]
    rows: list[list[str]] = []
    failing: list[str] = []
    for line in report["summary"]:
        if "error" in line:
            rows.append([line["deployment"], "unknown", "", "NO DATA", "", "", "", line["error"]])
            failing.append(line["deployment"])
            continue
        percent = line["compliance_percent"]
        rows.append(
            [
                line["deployment"],
                "no data" if percent is None else f"{percent:.2f} %",
                f"{line['target_percent']:g} %",
                "yes" if line["target_met"] else "NO",
                str(line["missed"]),
                f"{line['recoveries_within_rto']}/{line['recoveries']}",
                "intact" if line["ledger_intact"] else "BROKEN",
                "adherent" if line["retention_adherent"] else "NOT ADHERENT",
            ]
        )
        if not (line["target_met"] and line["ledger_intact"] and line["retention_adherent"]):
            failing.append(line["deployment"])
    total = len(report["summary"])
    sentence = f"{total - len(failing)} of {total} deployments met every target" + (
        f"; not: {', '.join(failing)}." if failing else "."
    )
    return header, rows, [sentence]


def render_fleet(report: dict[str, Any], form: str) -> str:
    return render_with(report, form, _markdown, _html)


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# vaultui fleet SLA report — {report['month']}",
        "",
        f"Fleet file: {report['fleet']}. Generated {report['generated_at']}.",
        "",
        "## Summary",
        "",
    ]
    header, rows, sentences = _summary_rows(report)
    lines += [*sentences, "", *md_table(header, rows), ""]
    for item in report["deployments"]:
        lines += [f"## {item['deployment']}", ""]
        if "error" in item:
            lines += [f"Not reported: {item['error']}.", ""]
            continue
        lines += [f"Storage: {item['report']['storage']}.", ""]
        for title, section_header, section_rows, section_sentences in sections(item["report"]):
            lines += [f"### {title}", "", *section_sentences] + ([""] if section_sentences else [])
            if section_rows:
                lines += [*md_table(section_header, section_rows), ""]
    return "\n".join(lines)


def _html(report: dict[str, Any]) -> str:
    escape = html.escape
    parts = [
        *html_head(f"vaultui fleet SLA report {report['month']}"),
        f"<h1>vaultui fleet SLA report — {escape(report['month'])}</h1>",
        f"<p>Fleet file: {escape(report['fleet'])}. Generated {escape(report['generated_at'])}.</p>",
        "<h2>Summary</h2>",
    ]
    header, rows, sentences = _summary_rows(report)
    parts += [f"<p>{escape(sentence)}</p>" for sentence in sentences] + html_table(header, rows)
    for item in report["deployments"]:
        parts.append(f"<h2>{escape(item['deployment'])}</h2>")
        if "error" in item:
            parts.append(f"<p>Not reported: {escape(item['error'])}.</p>")
            continue
        parts.append(f"<p>Storage: {escape(item['report']['storage'])}.</p>")
        for title, section_header, section_rows, section_sentences in sections(item["report"]):
            parts.append(f"<h3>{escape(title)}</h3>")
            parts += [f"<p>{code_spans(escape(sentence))}</p>" for sentence in section_sentences]
            if section_rows:
                parts += html_table(section_header, section_rows)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
