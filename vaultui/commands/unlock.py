"""`unlock`: clears leases of runs that died."""

from __future__ import annotations

from dataclasses import dataclass

from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `unlock` (the settings they set are resolved into the context's Settings)."""

    all: bool = False


def run(options: Options, context: Context) -> ExitCode:
    from engine.evidence.lease import unlock as clear_leases

    removed, kept = clear_leases(context.storage(), everything=options.all)
    for lease in removed:
        print(f"removed the lease of {lease.describe()}")
    for lease in kept:
        print(f"kept the live lease of {lease.describe()} (--all removes it)")
    if not removed and not kept:
        print("no leases: no run holds the storage")
    return ExitCode.OK
