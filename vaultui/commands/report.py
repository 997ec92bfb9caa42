"""`report`: the monthly SLA report (JSON, Markdown or HTML)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `report` (the settings they set are resolved into the context's Settings)."""

    month: str
    format: str = "md"
    output: Path | None = None
    fleet_file: str | None = None  # --fleet given (a FILE, or '' for the fleet setting's)
    storage: str | None = None  # as typed: refused beside --fleet


def run(options: Options, context: Context) -> ExitCode:
    from engine.sla.report import build_report, render

    if options.fleet_file is not None:
        from engine.fleet.report import build_fleet_report, render_fleet

        fleet = context.fleet(options.fleet_file, options.storage)
        deadline = max(context.settings.fleet_deadline, 120.0)  # a month of records is more than a status
        return _write(
            options, render_fleet(build_fleet_report(fleet, options.month, datetime.now(UTC), deadline), options.format)
        )
    storage = context.storage()
    data = build_report(
        storage,
        options.month,
        schedule=context.schedule(),
        policy=context.policy(),
        now=datetime.now(UTC),
        rto_seconds=context.rto(),
        target_percent=context.settings.target_percent,
    )
    return _write(options, render(data, options.format))


def _write(options: Options, text: str) -> ExitCode:
    if options.output:
        options.output.write_text(text)
        print(f"wrote {options.output}")
    else:
        sys.stdout.write(text)
    return ExitCode.OK
