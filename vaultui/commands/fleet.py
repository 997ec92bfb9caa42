"""`fleet discover`: the vaultui installs a cluster runs, as fleet entries for the user to review; printed, or
added to the fleet file (`--write`) without touching the entries it has."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.fleet.draft import DraftEntry, add_to_file, render
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode

NO_STORAGE = "FILL IN: s3://bucket/prefix or a folder"


@dataclass(frozen=True)
class Options(CommandOptions):
    fleet_action: str
    context: list[str] | None = None
    write: Path | None = None


def run(options: Options, context: Context) -> ExitCode:
    from engine.kube.cluster import connect
    from engine.kube.discover import discover

    entries: list[DraftEntry] = []
    searched: list[str] = []
    contexts: list[str | None] = [*options.context] if options.context else [None]
    for name in contexts:
        target = connect(name)
        found = discover(target)
        searched.append(f"context {target.context}: {found.searched}")
        if found.skipped:
            searched.append(f"  not readable there: {', '.join(found.skipped)}")
        for item in found.found:
            settings = dict(item.settings)
            notes = list(item.notes)
            if "storage" not in settings:
                settings = {"storage": NO_STORAGE, **settings}
                notes.append("its storage was not found: set it")
            entries.append(DraftEntry(item.name, settings, item.context, item.namespace, item.secrets, notes))
    header = (
        f"Found by `vaultui --headless fleet discover` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: review before use.\n"
        'Secrets are named, never copied: set each variable (or use {file = "/path"}) where the dashboard runs.'
    )
    for line in searched:
        print(f"searched {line}", file=sys.stderr)
    if not entries:
        print("vaultui: no vaultui backup CronJob found (label app.kubernetes.io/name=vaultui)", file=sys.stderr)
        return ExitCode.OK
    if options.write is None:
        sys.stdout.write(render(entries, header))
        return ExitCode.OK
    added = add_to_file(options.write, entries, header)
    kept = len(entries) - len(added)
    print(
        f"added {len(added)} entries to {options.write}"
        + (f": {', '.join(added)}" if added else "")
        + (f" ({kept} already there, left as they were)" if kept else "")
    )
    return ExitCode.OK
