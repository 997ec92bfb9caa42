"""Process exit codes of `vaultui --headless` and the one mapping from engine errors to them."""

from __future__ import annotations

from enum import IntEnum

from engine.common.errors import (
    ConfigError,
    KubernetesError,
    NoOplog,
    SourceError,
    StorageError,
    TargetNotEmpty,
    VaultError,
    VerificationError,
)
from engine.evidence.lease import LeaseHeld
from engine.storage.errors import StorageFault


class ExitCode(IntEnum):
    """Process exit codes of `vaultui --headless`, documented in `--help`."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    CONFIG = 3
    SOURCE_UNREACHABLE = 4
    STORAGE = 5
    VERIFICATION_FAILED = 6
    TARGET_NOT_EMPTY = 7
    COMPLIANCE_BELOW_TARGET = 8
    KUBERNETES = 9
    INDEXES_REFUSED = 10  # the data was restored; some indexes were refused by the target (listed)
    LEASE_HELD = 11  # another live run holds the storage lease (named); `unlock` clears a dead one
    NO_OPLOG = 12  # `oplog` pointed at a standalone server: it has no oplog to capture
    RPO_EXCEEDED = 13  # `status`: more would be lost than the recovery-point threshold allows
    INTERNAL = 70  # a bug: one line, and the traceback in a file (EX_SOFTWARE)
    INTERRUPTED = 130  # ctrl-c
    BROKEN_PIPE = 141  # the reader of the output went away (`vaultui … | head`): as a shell tool ends on SIGPIPE
    TERMINATED = 143  # SIGTERM (a pod being stopped): the step was rolled back and the run recorded


# Most specific first: an error takes the code of the first class it is an instance of.
_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ConfigError, ExitCode.CONFIG),
    (NoOplog, ExitCode.NO_OPLOG),
    (SourceError, ExitCode.SOURCE_UNREACHABLE),
    (StorageError, ExitCode.STORAGE),
    (StorageFault, ExitCode.STORAGE),
    (VerificationError, ExitCode.VERIFICATION_FAILED),
    (TargetNotEmpty, ExitCode.TARGET_NOT_EMPTY),
    (KubernetesError, ExitCode.KUBERNETES),
    (LeaseHeld, ExitCode.LEASE_HELD),
)


# The flags that set what an error's `setting` names: the CLI adds them to the engine's words.
FLAG_HINTS = {
    "renames": "--ns-from/--ns-to",
    "across_restores": "--across-restores",
    "month": "--month",
    "archive_choice": "--latest, --archive NAME or --date YYYY-MM-DD",
    "workers": "--parallel/--insert-workers",
    "timing": "--rto/--wait-ready",
    "mode": "--drop replaces, --if-empty skips",
    "keep_last": "--keep-last",
    "reason": "--reason",
    "uri": "--mongo-uri-file",
    "target_host": "--target-host",
    "storage": "--storage",
    "cronjob": "--cronjob",
    "age_identity_file": "--age-identity-file or VAULTUI_AGE_IDENTITY_FILE",
    "age_recipients": "--age-recipient or VAULTUI_AGE_RECIPIENTS",
}


def message_for(error: VaultError) -> str:
    """The one line the CLI prints: the engine's words, plus the flag that fixes it where there is one."""
    text = str(error)
    notes = "; ".join(getattr(error, "__notes__", []))
    hint = FLAG_HINTS.get(error.setting or "")
    return text + (f" [{hint}]" if hint else "") + (f"; {notes}" if notes else "")


def exit_code_for(error: VaultError) -> ExitCode:
    """The exit code of an engine error."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return ExitCode.FAILURE
