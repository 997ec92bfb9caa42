"""`unhold`: releases a hold (its archive may be gone)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.archive.holds import release_hold
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `unhold` (the settings they set are resolved into the context's Settings)."""

    name: str


def run(options: Options, context: Context) -> ExitCode:
    released = release_hold(context.storage(), options.name)
    print(f"released the hold on {released.archive} (was: {released.reason})")
    return ExitCode.OK
