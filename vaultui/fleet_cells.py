"""The fleet table's cells as plain words, shared by `status --fleet` and the fleet screen so both say the
same; each state has a word, so the table reads the same without colour."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.fleet.rows import FleetRow, RowState
from vaultui.formatting import duration_text, short_age

# Who, how bad and why first: at 80 columns the last ones are cut, and the line under the table says them all.
COLUMNS = (
    ("Deployment", 12),
    ("State", 7),
    ("Compliance", 10),
    ("Alerts", 24),
    ("Recovery", 11),
    ("Last ok", 7),
    ("RPO", 5),
    ("Newest", 10),
)
STYLES = {
    RowState.FAILING: "bold red",
    RowState.DOWN: "bold magenta",
    RowState.AT_RISK: "yellow",
    RowState.LOADING: "dim",
    RowState.OK: "green",
}


def row_cells(row: FleetRow, now: datetime) -> list[str]:
    """Deployment, state, compliance against target, the alerts (or why the storage did not answer), the newest
    recovery (or forecast) against the RTO, last success's age, RPO, and the newest archive's state."""
    if row.state in (RowState.LOADING, RowState.DOWN) and row.compliance_percent is None:
        waiting = "reading its storage…" if row.state == RowState.LOADING else ", ".join(row.alerts)
        return [row.name, row.state.word, "", waiting, "", "", "", ""]
    return [
        row.name,
        row.state.word,
        _compliance(row),
        ", ".join(row.alerts) or "-",
        _recovery(row),
        f"{short_age(now - row.last_success)} ago" if row.last_success else "never",
        "-" if row.rpo_seconds is None else _age(row.rpo_seconds),
        row.newest_state.value if row.newest_state else "none",
    ]


def row_detail(row: FleetRow, now: datetime) -> str:
    """Everything of one row in words (under the table, for what narrow columns cut)."""
    where = f"{row.namespace}, " if row.namespace else ""
    if row.error:
        return f"{row.name} ({where}{row.storage}): {row.error}"
    if row.state == RowState.LOADING:
        return f"{row.name} ({where}{row.storage}): reading its storage…"
    recovery = (
        "no restore or drill yet"
        if row.recovery_seconds is None
        else (
            f"{row.recovery_source} {duration_text(row.recovery_seconds)} "
            f"against RTO {duration_text(row.rto_seconds)}: "
            f"{'met' if row.recovery_met else 'MISSED'}"
        )
    )
    cells = row_cells(row, now)
    return (
        f"{row.name} ({where}{row.storage}): compliance {cells[2]}, last ok {cells[5]}, newest {cells[7]}, RPO "
        f"{cells[6]}, {recovery}; alerts: {cells[3]}"
    )


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
    word = "~" if row.recovery_source == "forecast" else ""
    return f"{word}{duration_text(row.recovery_seconds)} {'ok' if row.recovery_met else 'OVER'}"


def text_table(rows: list[FleetRow], now: datetime) -> str:
    """The fleet as plain text: a header, one line per deployment, worst first (column widths fit the cells)."""
    table = [[label for label, _ in COLUMNS]] + [row_cells(row, now) for row in rows]
    widths = [max(len(line[index]) for line in table) for index in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in table]
    return "\n".join(text.rstrip() for text in lines)
