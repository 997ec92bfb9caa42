"""Checks BSON documents without building them: framing (length prefixes, terminators) and, where nothing
vouches for the bytes, every element (types, lengths, strict UTF-8), in C (engine/archive/_bsoncheck.c), tens of
times faster than decoding with pymongo, whose C decoder builds a Python object per value.

The C check only ever speeds up a verdict: a document it calls bad is decoded by pymongo before the archive is
called corrupt, so it can never condemn a good archive; tests/test_bson_check.py holds the two to the same
verdicts on mutated documents. Where the extension is not built (no C compiler when installing; it is optional),
pymongo's decoder does the whole work, as before."""

from __future__ import annotations

from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import InvalidBSON

from engine.common.errors import VerificationError
from engine.common.limits import MAX_DOCUMENT_BYTES

try:
    from engine.archive._bsoncheck import check as _native_check
except ImportError:  # pragma: no cover - depends on how the package was installed
    _native_check = None

NATIVE = _native_check is not None
# Decoding checks structure only: unicode errors must fail, not be replaced; datetimes out of Python's range
# stay raw (they are legal BSON).
DECODE_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    unicode_decode_error_handler="strict", datetime_conversion=DatetimeConversion.DATETIME_AUTO
)
DECODE_ERRORS = (InvalidBSON, ValueError, OverflowError, UnicodeDecodeError, RecursionError)


def impossible_length(where: str, length: int) -> VerificationError:
    return VerificationError(f"{where} holds a document of impossible length {length}: the archive is corrupt")


def malformed(where: str) -> VerificationError:
    return VerificationError(f"{where} holds a malformed document: the archive is corrupt")


def truncated(where: str) -> VerificationError:
    return VerificationError(f"{where} ends inside a document: the archive is truncated")


def decode_with_pymongo(documents: bytes | memoryview, where: str) -> None:
    """The reference verdict: pymongo decodes every document (one C call over the whole buffer)."""
    try:
        bson.decode_all(documents, codec_options=DECODE_OPTIONS)
    except DECODE_ERRORS as error:
        raise VerificationError(
            f"{where} holds a document that does not decode ({error}): the archive is corrupt"
        ) from None


def check_buffer(buffer: bytes | memoryview, where: str, validate: bool) -> tuple[int, int]:
    """(documents, consumed): the whole documents at the start of `buffer`, framed and, with `validate`,
    checked throughout; `consumed` is where an incomplete last document starts (more must be read for it).
    Needs the extension (see NATIVE)."""
    assert _native_check is not None
    documents = start = 0
    while True:
        try:
            count, consumed = _native_check(buffer, MAX_DOCUMENT_BYTES, validate, start)
            return documents + count, consumed
        except ValueError as error:
            why, at = error.args
        documents += count_documents(memoryview(buffer)[start:at])
        length = int.from_bytes(buffer[at : at + 4], "little")
        if why == "impossible document length":
            raise impossible_length(where, length) from None
        if why == "document not terminated":
            raise malformed(where) from None
        decode_with_pymongo(memoryview(buffer)[at : at + length], where)  # raises if pymongo agrees it is bad
        documents += 1  # a document only the stricter C check refused: pymongo's verdict stands
        start = at + length


def check_documents(documents: bytes | memoryview, where: str) -> None:
    """Every document in `documents` (whole, already framed) is well formed; VerificationError otherwise."""
    if _native_check is None:
        decode_with_pymongo(documents, where)
        return
    _, consumed = check_buffer(documents, where, validate=True)
    if consumed != len(documents):
        raise truncated(where)


def count_documents(documents: bytes | memoryview) -> int:
    """How many documents a buffer of whole concatenated BSON documents holds (it walks the length prefixes)."""
    if _native_check is not None:
        return int(_native_check(documents, MAX_DOCUMENT_BYTES, False, 0)[0])
    count = offset = 0
    size = len(documents)
    while offset < size:
        offset += int.from_bytes(documents[offset : offset + 4], "little")
        count += 1
    return count
