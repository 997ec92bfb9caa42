"""One place where files from a storage or an archive become typed objects: manifests, ledger records,
holds, leases and metadata.json are decoded and validated with msgspec against their dataclasses (exact
types: a bool is not an int, a string is not a number), and any mismatch is one line naming the file and the
field (`$.collections[0].documents`)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class SchemaError(ValueError):
    """A file that does not have the shape of its kind. A ValueError, so readers that skip malformed
    records skip these too."""


def decode(data: bytes, kind: type[T], where: str) -> T:
    """`data` (JSON) as a `kind`; unknown fields are ignored (newer writers may add some)."""
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as error:
        raise SchemaError(f"{where} is unreadable: {_line(error)}") from None


def convert(value: Any, kind: type[T], where: str) -> T:
    """An already parsed object (e.g. extended JSON through bson.json_util) as a `kind`; values of other
    types (ObjectId, Int64) pass where `kind` says Any."""
    try:
        return msgspec.convert(value, type=kind, from_attributes=False)
    except (msgspec.ValidationError, RecursionError) as error:
        raise SchemaError(f"{where} is unreadable: {_line(error)}") from None


def _line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
