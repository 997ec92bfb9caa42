"""A local copy of ledger records, so that `status` and every dashboard refresh do not read thousands of small
objects again (on S3, one GET each). Records are written once and never changed: each is kept under its key
with the size and write time the listing gives, and read again from the storage when either differs. Audit
paths (`verify --ledger`, the monthly report) never use it: they read the storage itself.

The copy is one msgpack file per storage URL under $XDG_CACHE_HOME/vaultui (or ~/.cache/vaultui), private to
the user. Any trouble with it (unreadable, corrupt, read-only home) falls back to reading the storage.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec

from engine.storage import ObjectInfo, Storage

_Entry = tuple[int, float, bytes]  # size, write time (POSIX seconds), the record's bytes


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vaultui"


def cache_path(url: str) -> Path:
    return cache_folder() / f"ledger-{hashlib.sha256(url.encode()).hexdigest()[:20]}.msgpack"


def _load(path: Path) -> dict[str, _Entry]:
    try:
        return msgspec.msgpack.decode(path.read_bytes(), type=dict[str, tuple[int, float, bytes]])
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return {}


def _save(path: Path, entries: dict[str, _Entry]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=".ledger-", delete=False) as out:
            out.write(msgspec.msgpack.encode(entries))
        os.chmod(out.name, 0o600)
        os.replace(out.name, path)
    except (OSError, UnicodeEncodeError):
        return  # an optimisation only: the next run reads the storage again


def read_cached(
    storage: Storage, infos: list[ObjectInfo], read: Callable[[Storage, list[str]], dict[str, bytes]]
) -> dict[str, bytes]:
    """The bytes of the records listed in `infos`, from the local copy where size and write time still match,
    else through `read(storage, keys)` (which leaves out what it cannot read); the copy is then brought up to
    date with what the listing holds."""
    path = cache_path(storage.url)
    cached = _load(path)
    found: dict[str, bytes] = {}
    missing = []
    for info in infos:
        entry = cached.get(info.key)
        if entry is not None and entry[0] == info.size and entry[1] == info.modified.timestamp():
            found[info.key] = entry[2]
        else:
            missing.append(info.key)
    if missing:
        fresh = read(storage, missing)
        found.update(fresh)
        by_key = {info.key: info for info in infos}
        for key, data in fresh.items():
            info = by_key[key]
            cached[key] = (info.size, info.modified.timestamp(), data)
        _save(path, cached)
    return found
