"""The headless commands, one module per command. Each has an `Options` dataclass of its own flags, built from
the parsed arguments (or by a test, in-process), and `run(options, context) -> ExitCode`; its text and JSON
rendering sit beside it. A command's module is imported only when it runs, so `--help` loads none of them."""

from __future__ import annotations

import argparse
import importlib

from vaultui.commands.context import Context
from vaultui.exit_codes import ExitCode

MODULES = {
    "backup": "backup",
    "list": "listing",
    "verify": "verify",
    "restore": "restore",
    "purge": "purge",
    "hold": "hold",
    "unhold": "unhold",
    "holds": "holds",
    "oplog": "oplog",
    "unlock": "unlock",
    "status": "status",
    "drill": "drill",
    "report": "report",
}


def run_command(name: str, arguments: argparse.Namespace) -> ExitCode:
    """Runs the named command with the parsed arguments (their `settings` already resolved)."""
    module = importlib.import_module(f"vaultui.commands.{MODULES[name]}")
    context = Context(arguments.settings)
    try:
        return ExitCode(module.run(module.Options.from_arguments(arguments), context))
    finally:
        if name != "status":  # status lists them among what it skipped
            context.name_ignored_objects()
