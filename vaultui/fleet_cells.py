"""The fleet table's cells as plain words, shared by `status --fleet` and the fleet screen so both say the
same; each state has a word, so the table reads the same without colour."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.fleet.rows import FleetRow, RowState
from vaultui.formatting import duration_text, short_age

COLUMNS = (
    ("Deployment", 14),
    ("State", 8),
    ("Compliance", 11),
    ("RPO", 6),
    ("Last ok", 8),
    ("Newest", 10),
    ("Recovery", 14),
    ("Alerts", 40),
)
STYLES = {
    RowState.FAILING: "bold red",
    RowState.DOWN: "bold magenta",
    RowState.AT_RISK: "yellow",
    RowState.LOADING: "dim",
    RowState.OK: "green",
}


def row_cells(row: FleetRow, now: datetime) -> list[str]:
    """Deployment, state, compliance against target, RPO, last success's age, newest archive's state, the
    newest recovery (or forecast) against the RTO, and the alerts (or why the storage did not answer)."""
    if row.state in (RowState.LOADING, RowState.DOWN) and row.compliance_percent is None:
        waiting = "reading its storage…" if row.state == RowState.LOADING else row.error
        return [row.name, row.state.word, "", "", "", "", "", waiting]
    return [
        row.name,
        row.state.word,
        _compliance(row),
        "-" if row.rpo_seconds is None else _age(row.rpo_seconds),
        f"{short_age(now - row.last_success)} ago" if row.last_success else "never",
        row.newest_state.value if row.newest_state else "none",
        _recovery(row),
        ", ".join(row.alerts) or "-",
    ]


def _compliance(row: FleetRow) -> str:
    if row.compliance_percent is None:
        return "no data"
    below = row.compliance_percent < row.target_percent
    return f"{row.compliance_percent:.1f}%{'<' if below else '≥'}{row.target_percent:g}"


def _age(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else short_age(timedelta(seconds=seconds))


def _recovery(row: FleetRow) -> str:
    if row.recovery_seconds is None:
        return "none yet"
    word = {"forecast": "~", "drill": "drill ", "restore": ""}.get(row.recovery_source, "")
    return f"{word}{duration_text(row.recovery_seconds)} {'ok' if row.recovery_met else 'OVER'}"


def text_table(rows: list[FleetRow], now: datetime) -> str:
    """The fleet as plain text: a header, one line per deployment, worst first (column widths fit the cells)."""
    table = [[label for label, _ in COLUMNS]] + [row_cells(row, now) for row in rows]
    widths = [max(len(line[index]) for line in table) for index in range(len(COLUMNS) - 1)]
    lines = []
    for line in table:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1])
    return "\n".join(text.rstrip() for text in lines)
