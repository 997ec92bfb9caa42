"""`list`: the archives, newest first, each with its state (text or --json)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import humanize

from engine.archive.catalog import ArchiveEntry, list_archives
from engine.evidence.verifications import archive_state, dump_origins, latest_verifications, read_evidence
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.formatting import short_age
from vaultui.output import print_json


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `list` (the settings they set are resolved into the context's Settings)."""

    json: bool = False


def _entry_json(
    entry: ArchiveEntry, now: datetime, verifications: dict[str, bool], origins: dict[str, str]
) -> dict[str, object]:
    return {
        "name": entry.name,
        "time": entry.ref.time.isoformat(),
        "age_seconds": int((now - entry.ref.time).total_seconds()),
        "bytes": entry.size,
        "codec": entry.ref.codec,
        "status": str(archive_state(entry, verifications)),
        "legacy": entry.ref.legacy,
        "made_by": origins.get(entry.name),  # known once its backup or a verify recorded it
    }


def run(options: Options, context: Context) -> ExitCode:
    storage = context.storage()
    entries = list_archives(storage)
    runs = read_evidence(storage) if entries else []
    verifications, origins = latest_verifications(runs), dump_origins(runs)
    now = datetime.now(UTC)
    if options.json:
        print_json([_entry_json(entry, now, verifications, origins) for entry in entries], indent=1)
        return ExitCode.OK
    if not entries:
        print(f"no archives in {storage.url}: run `vaultui --headless backup` to make the first one")
        return ExitCode.OK
    print(f"{'ARCHIVE':<26} {'DATE (UTC)':<20} {'AGE':<6} {'SIZE':>10} {'CODEC':<6} STATUS")
    for entry in entries:
        state = archive_state(entry, verifications)
        print(
            f"{entry.name:<26} {entry.ref.time:%Y-%m-%d %H:%M:%S}  {short_age(now - entry.ref.time):<6} "
            f"{humanize.naturalsize(entry.size, binary=True):>10} {entry.ref.codec:<6} {state}"
        )
    return ExitCode.OK
