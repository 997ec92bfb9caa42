"""Collection file names in the mongodump layout, exactly as mongodump 100.x writes them, and back.

mongodump (common/util/file.go, mongodump/prepare.go in mongo-tools) writes a collection's files as
`<db>/<QueryEscape(collection)>.bson` and `.metadata.json`: Go's url.QueryEscape keeps ASCII letters, digits
and `-_.~`, turns a space into `+` and every other byte into `%XX` (upper-case hex). An escaped name longer
than 238 bytes is cut to 208 bytes plus `%24` plus the unpadded base64url SHA-1 of the real name; the real
name is then read from the metadata's `collectionName`. Database folders are the database's own name
(MongoDB forbids `/ \\ . " $` and NUL in them, so they need no escaping).
"""

from __future__ import annotations

import base64
import hashlib
import re
from enum import Enum
from urllib.parse import quote_plus

MAX_STEM_BYTES = 238
TRUNCATED_PREFIX_BYTES = 208
TRUNCATION_MARK = "%24"  # an escaped "$"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


class NameScheme(Enum):
    """How an archive spells collection file names. Manifests of format 1 (vaultui 0.1) wrote the raw names;
    everything else, including mongodump output and the old pipeline's archives, is escaped."""

    RAW = "raw"
    ESCAPED = "escaped"


class UndecodableName(ValueError):
    """A file name that does not decode to a collection name."""


def escape_collection(name: str) -> str:
    """Go's url.QueryEscape: Python's quote_plus with nothing extra kept safe gives the same bytes."""
    return quote_plus(name, safe="", encoding="utf-8", errors="strict")


def collection_stem(name: str) -> str:
    """The file name mongodump gives a collection, without `.bson` / `.metadata.json`."""
    escaped = escape_collection(name)
    if len(escaped) <= MAX_STEM_BYTES:
        return escaped
    digest = base64.urlsafe_b64encode(hashlib.sha1(name.encode(), usedforsecurity=False).digest()).rstrip(b"=")
    return escaped[:TRUNCATED_PREFIX_BYTES] + TRUNCATION_MARK + digest.decode()


def is_truncated(stem: str) -> bool:
    """mongorestore's own test for a shortened name (the real one is then in the metadata)."""
    return TRUNCATION_MARK in stem and len(stem) == MAX_STEM_BYTES


def unescape_collection(stem: str) -> str:
    """Go's url.QueryUnescape, strictly: a stray `%` or bytes that are not UTF-8 are errors, not guesses."""
    if match := _BAD_PERCENT.search(stem):
        raise UndecodableName(f"{stem!r} has a '%' not followed by two hex digits at {match.start()}")
    text = stem.replace("+", " ")
    try:
        return _PERCENT.sub(lambda run: bytes.fromhex(run.group().replace("%", "")).decode("utf-8"), text)
    except UnicodeDecodeError:
        raise UndecodableName(f"{stem!r} decodes to bytes that are not UTF-8") from None


def collection_from_stem(stem: str, scheme: NameScheme, metadata_name: object = None) -> str:
    """The collection a file stem stands for. `metadata_name` is the metadata's `collectionName`, needed for
    shortened names (mongodump writes the real name there)."""
    if scheme is NameScheme.RAW:
        return stem
    if is_truncated(stem):
        if not isinstance(metadata_name, str) or not metadata_name:
            raise UndecodableName(f"{stem!r} is a shortened name and its metadata.json names no collection")
        return metadata_name
    return unescape_collection(stem)
