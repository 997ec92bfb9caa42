"""Encryption at rest with age (X25519 recipients, through pyrage, the binding of the Rust implementation).

An encrypted archive is the plain archive's bytes in one age stream: `X.tar.zst.age`, which
`age -d -i key.txt X.tar.zst.age | tar --zstd -x` opens by hand. Backups need only the public recipients
(`age1…`); the identities (secret keys) live only where restores run. pyrage copies between file objects on
its own, so each direction runs it on a thread joined to the caller by a small bounded queue: memory stays a
few chunks whatever the archive's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from engine.common.errors import ConfigError, VerificationError

AGE_SUFFIX = ".age"
RECIPIENTS_SETTING = "age_recipients"
IDENTITY_SETTING = "age_identity_file"
# Identity files hold a few keys; anything larger is not one.
MAX_IDENTITY_FILE_BYTES = 1024 * 1024
_QUEUE_CHUNKS = 16  # of up to 1 MiB each: the most either direction holds in memory
_END = object()  # the end of the stream, in the queue


class MissingIdentity(ConfigError):
    """An encrypted archive and no identity that opens it: a setting to fix, never a verdict on the archive."""


def parse_recipients(recipients: Iterable[str]) -> list[Any]:
    """The age recipients to encrypt to; a malformed one is a setting error naming it."""
    from pyrage import RecipientError, x25519

    parsed = []
    for text in recipients:
        try:
            parsed.append(x25519.Recipient.from_str(text.strip()))
        except RecipientError as error:
            raise ConfigError(
                f"{text.strip()[:20]!r} is not an age recipient ({error}): give public keys (age1…) made with "
                "age-keygen",
                setting=RECIPIENTS_SETTING,
            ) from None
    return parsed


def load_identities(path: str) -> list[Any]:
    """The X25519 identities in an age identity file (as age-keygen writes it: comments and AGE-SECRET-KEY-1…)."""
    from pyrage import IdentityError, x25519

    try:
        with open(path, "rb") as file:
            data = file.read(MAX_IDENTITY_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(
            f"cannot read the age identity file {path}: {error.strerror or error}", setting=IDENTITY_SETTING
        ) from None
    if len(data) > MAX_IDENTITY_FILE_BYTES:
        raise ConfigError(f"{path} is too large to be an age identity file", setting=IDENTITY_SETTING)
    identities = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except IdentityError:
            raise ConfigError(
                f"line {number} of {path} is not an age X25519 identity (AGE-SECRET-KEY-1…)", setting=IDENTITY_SETTING
            ) from None
    if not identities:
        raise ConfigError(f"{path} holds no age identity", setting=IDENTITY_SETTING)
    return identities


class _Identities:
    """Where restores find their identities: the file given by use_identity_file (benches, tests), else the
    setting the face put in force (engine.common.config.in_force). Read once per file."""

    def __init__(self) -> None:
        self.path: str | None = None
        self._loaded: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def current_path(self) -> str:
        if self.path is not None:
            return self.path
        from engine.common.config import in_force

        return in_force().age_identity_file

    def get(self, archive: str, recipients: Sequence[str] = ()) -> list[Any]:
        path = self.current_path()
        if not path:
            wanted = f" (it was encrypted to {', '.join(recipients)})" if recipients else ""
            raise MissingIdentity(
                f"{archive} is encrypted with age{wanted}: give the file holding one of its identities",
                setting=IDENTITY_SETTING,
            )
        with self._lock:
            if path not in self._loaded:
                self._loaded[path] = load_identities(path)
            return self._loaded[path]

    def public_keys(self) -> set[str] | None:
        """The recipients the configured identities open, or None when no identity is configured."""
        path = self.current_path()
        if not path:
            return None
        return {str(identity.to_public()) for identity in self.get("", ())}


IDENTITIES = _Identities()


def use_identity_file(path: str) -> None:
    """Overrides the identity file in force (benches and tests that make their own keys)."""
    IDENTITIES.path = path


def seal(data: bytes, recipients: Sequence[str]) -> bytes:
    """Small objects (oplog chunks) are encrypted whole."""
    from pyrage import encrypt

    return encrypt(data, parse_recipients(recipients))  # type: ignore[no-any-return]


def unseal(data: bytes, name: str) -> bytes:
    """The plain bytes of a small encrypted object, with the same errors as a stream (AgeReader)."""
    import io

    with AgeReader(io.BytesIO(data), IDENTITIES.get(name), name) as reader:
        return reader.read()


class _Pipe:
    """A bounded queue of byte chunks between the caller's thread and pyrage's. Either side can break it (an
    error, or a reader that stops early), which unblocks the other."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[object] = queue.Queue(_QUEUE_CHUNKS)
        self.broken: BaseException | None = None
        self.pending = b""
        self.ended = False  # the end was taken: every later read is b"" (gzip reads past its trailer)

    def put(self, data: object) -> None:
        while True:
            if self.broken is not None:
                raise BrokenPipeError("the other side of the age stream stopped")
            try:
                self.chunks.put(data, timeout=0.2)  # wakes to notice a break: never a wait for time
                return
            except queue.Full:
                continue

    def take(self, size: int) -> bytes:
        while not self.pending:
            if self.ended:
                return b""
            if self.broken is not None:
                raise BrokenPipeError("the other side of the age stream stopped")
            try:
                chunk = self.chunks.get(timeout=0.2)
            except queue.Empty:
                continue
            if chunk is _END:
                self.ended = True
                return b""
            assert isinstance(chunk, bytes)
            self.pending = chunk
        if size < 0 or size >= len(self.pending):
            data, self.pending = self.pending, b""
        else:
            data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def finish(self) -> None:
        self.put(_END)

    def break_(self, error: BaseException) -> None:
        self.broken = error


class _Recorded:
    """`raw` (the storage's stream), remembering the first error its reads or writes raised: pyrage turns a
    Python error into its own (and may even drop one raised by its last buffered write), so the caller
    re-raises the recorded one, with its own type: a storage fault stays a storage fault."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            return self.raw.read(size)  # type: ignore[no-any-return]
        except BaseException as error:
            self.error = self.error or error
            raise

    def write(self, data: bytes) -> int:
        try:
            self.raw.write(data)
        except BaseException as error:
            self.error = self.error or error
            raise
        return len(data)

    def flush(self) -> None:
        pass


class _PipeReader:
    """pyrage's side of the encrypting pipe: the plain bytes the caller wrote."""

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def read(self, size: int = -1) -> bytes:
        return self.pipe.take(size)

    def readinto(self, buffer: Any) -> int:
        data = self.pipe.take(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class AgeWriter:
    """A write stream that encrypts into `raw` (the storage's writer). Closing it writes age's last chunk;
    an error on either side surfaces in the caller's thread, with its own type (a storage fault stays one)."""

    def __init__(self, raw: Any, recipients: list[Any]) -> None:
        from pyrage import encrypt_io

        self._pipe = _Pipe()
        self._error: BaseException | None = None
        self._raw = _Recorded(raw)

        def run() -> None:
            try:
                encrypt_io(_PipeReader(self._pipe), self._raw, recipients)
            except BaseException as error:  # handed to the caller's thread
                self._error = error
                self._pipe.break_(error)

        self._thread = threading.Thread(target=run, name="age-encrypt", daemon=True)
        self._thread.start()
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if not data:
            return 0
        try:
            self._pipe.put(bytes(data))
        except BrokenPipeError:
            self._raise()
        return len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def _raise(self) -> None:
        self._thread.join()
        raise self._raw.error or self._error or BrokenPipeError("the age stream stopped")

    def close(self) -> None:
        """Ends the stream: age writes its final chunk into `raw`."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pipe.finish()
        except BrokenPipeError:
            pass
        self._thread.join()
        if self._raw.error is not None or self._error is not None:
            raise self._raw.error or self._error  # type: ignore[misc]

    def abort(self) -> None:
        """Stops without finishing the stream (the caller aborts the upload of what was written)."""
        self._closed = True
        self._pipe.break_(InterruptedError("aborted"))
        self._thread.join()

    def __enter__(self) -> AgeWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class _PipeWriter:
    """pyrage's side of the decrypting pipe: the plain bytes it hands to the caller."""

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def write(self, data: bytes) -> int:
        if data:
            self.pipe.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class AgeReader:
    """A read stream of the plain bytes of the age stream `raw`. A storage fault while reading `raw` surfaces
    with its own type; a wrong key or a broken stream as the errors below."""

    def __init__(self, raw: Any, identities: list[Any], archive: str, recipients: Sequence[str] = ()) -> None:
        from pyrage import decrypt_io

        self._pipe = _Pipe()
        self._error: BaseException | None = None
        self._raw = _Recorded(raw)
        self.archive = archive
        self.recipients = recipients
        self.identities = identities

        def run() -> None:
            try:
                decrypt_io(self._raw, _PipeWriter(self._pipe), identities)
                self._pipe.finish()
            except BaseException as error:  # handed to the caller's thread
                self._error = error
                self._pipe.break_(error)

        self._thread = threading.Thread(target=run, name="age-decrypt", daemon=True)
        self._thread.start()

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        try:
            return self._pipe.take(size)
        except BrokenPipeError:
            self._thread.join()
            raise self._explain(self._error) from None

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def _explain(self, error: BaseException | None) -> BaseException:
        from pyrage import DecryptError

        if self._raw.error is not None:
            return self._raw.error  # the storage's own fault (a reset, a denial): no verdict on the archive
        if error is None:
            return VerificationError(f"{self.archive}: the age stream stopped")
        if isinstance(error, DecryptError) and "No matching keys" in str(error):
            ours = {str(identity.to_public()) for identity in self.identities}
            if ours & set(self.recipients):
                # An identity the manifest names did not open it: the header itself was changed.
                return VerificationError(f"{self.archive}: its age header is damaged (it names a key we hold)")
            wanted = f" (it was encrypted to {', '.join(self.recipients)})" if self.recipients else ""
            return MissingIdentity(
                f"no identity in the age identity file opens {self.archive}{wanted}", setting=IDENTITY_SETTING
            )
        if isinstance(error, DecryptError):
            return VerificationError(f"{self.archive} is not a valid age stream ({error}): the archive is corrupt")
        # Anything else from age (a chunk failing its authentication, a cut between chunks) is the content.
        return VerificationError(
            f"{self.archive} does not decrypt to the end ({error}): it is truncated or was changed"
        )

    def close(self) -> None:
        self._pipe.break_(InterruptedError("closed"))
        self._thread.join()

    def __enter__(self) -> AgeReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
