"""gzip through ISA-L (python-isal) where its wheel is installed, the standard library's zlib elsewhere.

Old-pipeline archives, `--codec gzip` archives and `mongodump --gzip` members are all gzip; zlib's inflate
bounded every read of them (verify ran at 1.5x `tar -xzO`). ISA-L inflates the same bytes about 3x faster on
x86-64 and aarch64, and its deflate writes plain RFC 1952 members that `gzip -d` and `tar xz` read. It is the
binding python-isal's maintainers keep beside python-zlib-ng; zlib-ng inflates about 2x faster than zlib,
ISA-L about 3x, so ISA-L is the one. Its levels are 0-3 rather than zlib's 1-9.
"""

from __future__ import annotations

import zlib
from functools import cache
from types import ModuleType
from typing import IO, Any, cast


@cache
def _isal() -> tuple[ModuleType, ModuleType] | None:
    """(igzip, isal_zlib), imported on first use (`list` and `status` never inflate), or None without the
    wheel: a platform without it (or an install that left it out) keeps working, at zlib's speed."""
    try:
        from isal import igzip, isal_zlib
    except ImportError:
        return None
    return igzip, isal_zlib


def backend() -> str:
    """Which library inflates and deflates here: "isal" or "zlib"."""
    return "zlib" if _isal() is None else "isal"


def gzip_errors() -> tuple[type[BaseException], ...]:
    """What a damaged gzip stream raises, whichever library reads it (besides EOFError and BadGzipFile, an
    OSError). A function, so that an `except` evaluates it only when something was raised."""
    loaded = _isal()
    return (zlib.error,) if loaded is None else (zlib.error, loaded[1].error)


# zlib 6 is gzip(1)'s own default, the one the old pipeline used. ISA-L's default, 2, measured on the bench's
# 105 MB tar of BSON: 2.5 % larger than zlib 6 at 8x its speed (0.25 s against 2.0 s); its level 3 was larger
# still and slower.
ZLIB_LEVEL = 6
ISAL_LEVEL = 2


def gzip_reader(raw: IO[bytes]) -> IO[bytes]:
    """A read stream of the inflated bytes of the gzip stream `raw` (every member, as gzip -d reads)."""
    if (loaded := _isal()) is not None:
        source = raw if hasattr(raw, "readinto") else _ReadInto(raw)  # ISA-L's reader fills buffers in place
        opened: Any = loaded[0].GzipFile(fileobj=source, mode="rb")
        return cast(IO[bytes], opened)
    import gzip  # the fallback only: `list` and `status` import this module and never inflate

    return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))


class _ReadInto:
    """`readinto` for a stream that only has `read` (the hashing, bounding and decrypting readers)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


def gzip_writer(raw: IO[bytes]) -> IO[bytes]:
    """A write stream deflating into `raw`, without a file name or time in its header (the same data gives the
    same bytes); closing it writes the gzip trailer, not closing `raw`."""
    if (loaded := _isal()) is not None:
        opened: Any = loaded[0].GzipFile(fileobj=raw, mode="wb", compresslevel=ISAL_LEVEL, mtime=0)
        return cast(IO[bytes], opened)
    import gzip

    return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=ZLIB_LEVEL, mtime=0))
