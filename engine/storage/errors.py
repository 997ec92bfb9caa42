"""What a storage backend can fail with, in storage terms only: the engine decides what a failure means for an
archive or a run (a missing object may be a missing archive; a transient fault is never a corrupt archive)."""

from __future__ import annotations

from engine.common.errors import VaultError


class StorageFault(VaultError):
    """The storage could not do what was asked (the message names the object and the fix)."""


class ObjectMissing(StorageFault):
    """No object under that key."""


class AccessDenied(StorageFault):
    """The credentials or the file permissions do not allow it."""


class TransientFault(StorageFault):
    """A timeout, a dropped connection, a 5xx or throttling: the same call may succeed later."""


class ObjectLocked(StorageFault):
    """The storage itself keeps the object for now (an S3 Object Lock legal hold or retention): not a fault of
    the credentials, and it may go later."""
