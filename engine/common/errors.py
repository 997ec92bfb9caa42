"""The engine's exception hierarchy. Exit codes are the CLI's business (vaultui/exit_codes.py)."""

from __future__ import annotations


class VaultError(Exception):
    """A failure a user can meet: its message names the thing and the fix, in one line, in words (no command
    line flags: the dashboard has none). `setting` names the setting at fault, so that the CLI can add the flag
    that sets it."""

    def __init__(self, message: str = "", *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class ConfigError(VaultError):
    """Bad settings: an unknown codec, a malformed URL, a missing URI."""


class SourceError(VaultError):
    """The MongoDB server cannot be reached, or refuses what was asked of it."""


class NoOplog(SourceError):
    """The server has no oplog (a standalone mongod): nothing to capture, no point in time to restore to."""


class StorageError(VaultError):
    """The archive storage (folder or S3) cannot be read or written."""


class ArchiveNotFound(StorageError):
    """No archive of that name, or none at all."""


class VerificationError(VaultError):
    """An archive is corrupt, truncated, unsafe or does not match its manifest."""


class TargetNotEmpty(VaultError):
    """A restore would write over data that is already there."""


class KubernetesError(VaultError):
    """The cluster cannot be reached, or refuses a call (the message names the permission)."""
