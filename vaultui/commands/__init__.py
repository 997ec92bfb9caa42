"""The headless commands, one module per command. Each has an `Options` dataclass of its own flags, built from
the parsed arguments (or by a test, in-process), and `run(options, context) -> ExitCode`; its text and JSON
rendering sit beside it. A command's module is imported only when it runs, so `--help` loads none of them."""

from __future__ import annotations

import argparse
import importlib

from engine.common.config import notify_webhook
from engine.common.errors import VaultError
from vaultui.commands.context import Context
from vaultui.exit_codes import ExitCode, exit_code_for, message_for

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
    "fleet": "fleet",
}


# The commands that are runs with an outcome somebody must hear of (status only reports).
NOTIFIED = {"backup", "restore", "purge", "verify", "drill", "oplog"}


def run_command(name: str, arguments: argparse.Namespace) -> ExitCode:
    """Runs the named command with the parsed arguments (their `settings` already resolved); tells the webhook
    when the run failed or was refused, or succeeded after a failure."""
    module = importlib.import_module(f"vaultui.commands.{MODULES[name]}")
    context = Context(arguments.settings)
    webhook = notify_webhook(getattr(arguments, "notify_webhook", None)) if name in NOTIFIED else ""
    try:
        code = ExitCode(module.run(module.Options.from_arguments(arguments), context))
    except VaultError as error:
        if webhook:
            from vaultui.commands.notice import tell  # only when a webhook is set: keeps list/status light

            tell(webhook, context, name, exit_code_for(error), message_for(error))
        raise
    finally:
        if name != "status":  # status lists them among what it skipped
            context.name_ignored_objects()
    if webhook:
        from vaultui.commands.notice import tell

        tell(webhook, context, name, code, "" if code == ExitCode.OK else f"exit {int(code)} ({code.name.lower()})")
    return code
