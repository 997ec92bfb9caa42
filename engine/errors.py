"""The engine's exception hierarchy; each error carries the exit code the CLI maps it to."""

from __future__ import annotations

from enum import IntEnum


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
    INTERRUPTED = 130


class VaultError(Exception):
    """A failure a user can meet: its message names the thing and the fix, in one line."""

    exit_code = ExitCode.FAILURE


class ConfigError(VaultError):
    """Bad settings: an unknown codec, a malformed URL, a missing URI."""

    exit_code = ExitCode.CONFIG


class SourceError(VaultError):
    """The MongoDB server cannot be reached, or refuses what was asked of it."""

    exit_code = ExitCode.SOURCE_UNREACHABLE


class StorageError(VaultError):
    """The archive storage (folder or S3) cannot be read or written."""

    exit_code = ExitCode.STORAGE


class ArchiveNotFound(StorageError):
    """No archive of that name, or none at all."""


class VerificationError(VaultError):
    """An archive is corrupt, truncated, unsafe or does not match its manifest."""

    exit_code = ExitCode.VERIFICATION_FAILED


class TargetNotEmpty(VaultError):
    """A restore would write over data that is already there."""

    exit_code = ExitCode.TARGET_NOT_EMPTY
