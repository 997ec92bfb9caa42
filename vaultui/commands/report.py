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


def run(options: Options, context: Context) -> ExitCode:
    from engine.sla.report import build_report, render

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
    text = render(data, options.format)
    if options.output:
        options.output.write_text(text)
        print(f"wrote {options.output}")
    else:
        sys.stdout.write(text)
    return ExitCode.OK
