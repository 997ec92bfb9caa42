"""`hold`: keeps an archive from any purge, with a reason."""

from __future__ import annotations

from dataclasses import dataclass

from engine.archive.holds import place_hold
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `hold` (the settings they set are resolved into the context's Settings)."""

    name: str
    reason: str


def run(options: Options, context: Context) -> ExitCode:
    placed = place_hold(context.storage(), options.name, options.reason)
    print(f"held {placed.archive}: {placed.reason}")
    return ExitCode.OK
