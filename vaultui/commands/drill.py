"""`drill`: restores into scratch databases, checks every document, records the time against the RTO."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import humanize

from engine.common.config import drill_uri
from engine.common.errors import ConfigError
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.formatting import against_rto
from vaultui.output import log_event


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `drill` (the settings they set are resolved into the context's Settings)."""

    archive: str | None = None
    target_uri_file: Path | None = None


def run(options: Options, context: Context) -> ExitCode:
    from engine.restore.drill import run_drill
    from vaultui.output import ProgressReporter

    storage = context.storage()
    uri = drill_uri(options.target_uri_file)
    if not uri:
        raise ConfigError("no drill target: set VAULTUI_DRILL_URI (or VAULTUI_TARGET_URI) or pass --target-uri-file")
    with context.metrics_after(storage):
        reporter = ProgressReporter()
        try:
            result = run_drill(storage, uri, archive=options.archive, rto_seconds=context.rto(), progress=reporter)
        finally:
            reporter.close()
    log_event(
        "drill.finished",
        archive=result.archive,
        documents=result.documents,
        duration_seconds=result.duration_seconds,
        rto_met=result.rto_met,
    )
    print(
        f"drill of {result.archive}: {result.namespaces} namespaces, {humanize.intcomma(result.documents)} "
        "documents restored and checked against the archive, scratch data dropped"
    )
    print("restored " + against_rto(result.duration_seconds, result.rto_seconds, result.rto_met))
    return ExitCode.OK
