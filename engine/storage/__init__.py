"""Chooses a storage backend from a URL: a folder path or file:// URL (a PVC), or s3://bucket/prefix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from engine.common.errors import ConfigError
from engine.storage.base import (
    IGNORED_REASON,
    AtomicWriter,
    ObjectInfo,
    ObjectLock,
    Storage,
    check_reachable,
    ignored_names,
    read_bytes,
    write_bytes,
)
from engine.storage.fs import FolderStorage

__all__ = [
    "IGNORED_REASON",
    "AtomicWriter",
    "FolderStorage",
    "ObjectInfo",
    "ObjectLock",
    "Storage",
    "check_reachable",
    "ignored_names",
    "open_storage",
    "read_bytes",
    "write_bytes",
]

URL_HELP = "use a folder path, file:///path, or s3://bucket/prefix[?endpoint=URL&region=R&path_style=true]"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_S3_OPTIONS = {"endpoint", "region", "path_style"}


def open_storage(url: str, credentials: Mapping[str, str] | None = None) -> Storage:
    """The storage a URL names; raises ConfigError with the accepted forms when it names none. `credentials`:
    S3 keys for this storage alone (a fleet's deployment names its own), else boto3's usual chain."""
    if not url or not url.strip():
        raise ConfigError(f"no storage given: {URL_HELP} (setting VAULTUI_STORAGE)", setting="storage")
    url = url.strip()
    if "://" not in url:
        return FolderStorage(Path(url).expanduser().absolute())
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigError(f"malformed storage URL {url!r}: {URL_HELP}")
        return FolderStorage(Path(parts.path))
    if parts.scheme == "s3":
        if not _BUCKET.match(parts.netloc or ""):
            raise ConfigError(f"malformed storage URL {url!r}: {parts.netloc!r} is not a bucket name; {URL_HELP}")
        options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(options) - _S3_OPTIONS
        if unknown:
            raise ConfigError(f"unknown option {sorted(unknown)[0]!r} in storage URL: {URL_HELP}")
        endpoint = options.get("endpoint")
        if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigError(f"S3 endpoint {endpoint!r} must start with http:// or https://")
        from engine.storage.s3 import S3Storage  # boto3 loads only for S3 storage

        return S3Storage(
            parts.netloc,
            parts.path,
            endpoint_url=endpoint,
            region=options.get("region"),
            path_style=options.get("path_style", "").lower() in ("1", "true", "yes"),
            credentials=credentials,
        )
    raise ConfigError(f"unsupported storage URL {url!r}: {URL_HELP}")
