"""Telling the notify webhook how a headless run ended: failed or refused, or a success right after a failure
of the same kind (recovered). Whatever the webhook does, the run's result and exit code stay what they were."""

from __future__ import annotations

import sys

from engine.common.errors import VaultError
from engine.common.states import RunKind, RunResult
from engine.sla.notify import Notice, post
from vaultui.commands.context import Context
from vaultui.exit_codes import ExitCode

KINDS = {"backup": RunKind.BACKUP, "restore": RunKind.RESTORE, "purge": RunKind.PURGE, "verify": RunKind.VERIFY,
         "drill": RunKind.DRILL}  # fmt: skip


def recovered(context: Context, command: str) -> bool:
    """The run just recorded succeeded, and the one of its kind before it failed."""
    kind = KINDS.get(command)
    if kind is None or not context.opened:
        return False
    from engine.evidence.ledger import list_runs

    try:
        newest = list_runs(context.opened[0], kind, limit=2)
    except VaultError:
        return False  # the storage's trouble is the command's to report, not the notice's
    return len(newest) == 2 and newest[0].result != RunResult.FAILURE and newest[1].result == RunResult.FAILURE


def tell(webhook: str, context: Context, command: str, code: ExitCode, detail: str) -> None:
    if code == ExitCode.OK:
        if not recovered(context, command):
            return
        event, detail = "recovered", "the previous run of this kind had failed"
    else:
        event = "refused" if code == ExitCode.TARGET_NOT_EMPTY else "failed"
    labels = context.metric_labels()
    notice = Notice(event, command, labels.deployment, labels.namespace, labels.storage, detail, int(code))
    if problem := post(webhook, notice):
        print(f"vaultui: WARNING: not notified: {problem}", file=sys.stderr)
