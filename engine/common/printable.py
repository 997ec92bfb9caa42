"""Names as a person, a terminal and a JSON parser can take them, whatever bytes they came from.

A folder can hold file names that are not UTF-8 and a tar member can carry any bytes: Python decodes both with
`surrogateescape`, so the bytes survive as lone surrogates (U+DC80-U+DCFF), which no UTF-8 writer accepts.
S3 keys, ledger records and metadata can hold control characters that would move a terminal's cursor.
`printable` shows both as escapes (`\\xff`, `\\n`, `\\x1b`): the name stays recognisable, nothing crashes.
"""

from __future__ import annotations

import codecs
from typing import Any

ERROR_HANDLER = "vaultui.printable"


def undecodable(text: str) -> bool:
    """True when `text` carries bytes that were not UTF-8 (lone surrogates left by surrogateescape), or any
    other lone surrogate (a JSON escape can make one): nothing of MongoDB's can be named that way."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _escape(character: str) -> str:
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the original byte
    if code <= 0xFF:
        return repr(character)[1:-1]  # \n, \t, \x1b, \xa0: quotes are printable and never get here
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with lone surrogates shown as the bytes they stand for and non-printing characters escaped."""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else _escape(character) for character in text)


def printable_json(value: Any) -> Any:
    """A JSON-ready value with every string (keys included) made printable: valid JSON, valid UTF-8."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(key)): printable_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_json(item) for item in value]
    return value


def _handler(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler for output streams: whatever could not be encoded is written as escapes."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return printable(error.object[error.start : error.end]), error.end


codecs.register_error(ERROR_HANDLER, _handler)
