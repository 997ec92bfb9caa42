"""Size limits on everything vaultui reads from an archive or a storage: what keeps a hostile or broken input
from taking the memory (or the hours) of a restore. Exceeding one is a content error naming the limit and,
where one exists, the setting that raises it."""

from __future__ import annotations

from engine.common.errors import VerificationError

# Sidecars (manifest, hold, ledger record, lease): a manifest lists one line per collection, so even 100,000
# collections stay far below this.
MAX_SIDECAR_BYTES = 32 * 1024 * 1024
# A collection's metadata.json: options, indexes, a validator. MongoDB's own document limit is 16 MiB.
MAX_METADATA_BYTES = 16 * 1024 * 1024
# A tar header's long name or PAX records: real ones are a few hundred bytes.
MAX_TAR_HEADER_BYTES = 64 * 1024
# Members of one archive: two per collection; MongoDB deployments past 100,000 collections are not sane.
MAX_MEMBERS = 500_000
# One BSON document: MongoDB's own limit is 16 MiB; 48 MiB is the most one wire message carries.
MAX_DOCUMENT_BYTES = 48 * 1024 * 1024
# The unpacked size of an archive with a manifest: its BSON, plus this for metadata and tar headers.
UNPACKED_MARGIN_BYTES = 64 * 1024 * 1024
# Archives without a manifest (the old pipeline's) have nothing to say their size: a ceiling, settable.
UNPACKED_CEILING_SETTING = "VAULTUI_MAX_UNPACKED_GIB"


class TooLarge(VerificationError, ValueError):
    """An input past one of the limits. Also a ValueError, so that every reader that skips a malformed
    sidecar (ledger records, holds) skips an oversized one the same way."""


def unpacked_limit(bson_bytes: int | None, collections: int = 0) -> tuple[int, str]:
    """(bytes, setting) an archive may unpack to: its manifest's BSON plus a margin, else the ceiling."""
    if bson_bytes is not None:
        return bson_bytes + UNPACKED_MARGIN_BYTES + collections * MAX_METADATA_BYTES // 256, ""
    return unpacked_ceiling(), UNPACKED_CEILING_SETTING


def unpacked_ceiling() -> int:
    """Bytes an archive without a manifest may unpack to (the max_unpacked_gib setting, default 1024)."""
    from engine.common.config import in_force  # settings load only where an archive without a manifest is read

    return int(in_force().max_unpacked_gib * 1024**3)


def check_size(size: int, limit: int, what: str, setting: str = "", unit: str = "bytes") -> None:
    if size > limit:
        raise TooLarge(
            f"{what} is past the limit of {limit:,} {unit}"
            + (f" (raise it with {setting})" if setting else ": the input is broken or hostile")
        )


class BoundedReader:
    """Passes reads through until `limit` bytes have gone by; then the input is too large."""

    def __init__(self, raw: object, limit: int, what: str, setting: str = "") -> None:
        self._raw = raw
        self.limit = limit
        self.what = what
        self.setting = setting
        self.bytes = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)  # type: ignore[attr-defined]
        self.bytes += len(data)
        check_size(self.bytes, self.limit, self.what, self.setting)
        return data

    def readable(self) -> bool:
        return True
