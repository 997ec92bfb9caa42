"""`holds`: every hold, orphaned ones (archive gone) marked."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.output import print_json


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `holds` (the settings they set are resolved into the context's Settings)."""

    json: bool = False


def run(options: Options, context: Context) -> ExitCode:
    from engine.archive.holds import list_holds

    found = list_holds(context.storage())
    if options.json:
        listed = [{**asdict(item.hold), "orphaned": item.orphaned, "locked": item.locked} for item in found]
        print_json(listed, indent=1)
        return ExitCode.OK
    for item in found:
        state = "ORPHANED (archive gone: unhold releases it)" if item.orphaned else "held"
        state += {True: ", S3 legal hold", False: ", NO S3 legal hold", None: ""}[item.locked]
        print(f"{item.hold.archive}  {state}: {item.hold.describe()}")
    if not found:
        print("no holds")
    return ExitCode.OK
