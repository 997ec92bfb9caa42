"""Storage in an S3-compatible bucket through boto3: multipart uploads completed only when the write ends.

Long because it is one whole backend: every call of the protocol, Object Lock's legal holds and versions, and
the translation of each S3 error into one that names the permission to grant."""

from __future__ import annotations

import builtins
import contextlib
import io
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
)
from urllib3.exceptions import HTTPError

from engine.storage.base import AtomicWriter, ObjectInfo, ObjectLock
from engine.storage.errors import AccessDenied, ObjectLocked, ObjectMissing, StorageFault, TransientFault

# S3's smallest part is 5 MiB; 16 MiB parts keep request counts low while bounding memory per writer. An
# upload holds at most 10,000 parts, so parts grow (see part_size) and those past PART_SIZE spool to disk.
PART_SIZE = 16 * 1024 * 1024
MAX_PART_SIZE = 1024 * 1024 * 1024
PARTS_PER_STEP = 1000
READ_ATTEMPTS = 6  # tries of one read (the first and five resumptions) before the storage is said to be down

_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden"}
# The IAM action each operation needs, named in the hint when S3 denies it (callers may name a narrower one).
_PERMISSIONS = {
    "read": "s3:GetObject",
    "write": "s3:PutObject",
    "list": "s3:ListBucket",
    "open": "s3:ListBucket",  # HeadBucket
    "delete": "s3:DeleteObject",
    "list uploads of": "s3:ListBucketMultipartUploads",
    "abort an upload of": "s3:AbortMultipartUpload",
}
# Answers to "what is this bucket's Object Lock" that mean it has none, or none these credentials may see (then
# vaultui does as on any bucket: a hold is its sidecar alone, a purge a plain delete).
_NO_LOCK_CODES = {"ObjectLockConfigurationNotFoundError", "NotImplemented", "MethodNotAllowed", "InvalidRequest"}
_NO_LOCK_CODES |= _DENIED_CODES


class S3Storage:
    """Objects under `prefix` in `bucket`. Credentials come from boto3's usual chain (environment variables,
    profile, IRSA); the endpoint from the URL or AWS_ENDPOINT_URL(_S3)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        client: Any = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        config = Config(
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=20,  # a stalled read is resumed (see _PinnedReader) rather than waited on
        )
        self._credentials = dict(credentials or {})  # aws_access_key_id, aws_secret_access_key, aws_session_token
        self.client = client or boto3.session.Session(**self._credentials).client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        self._client_arguments = {"endpoint_url": endpoint_url, "region_name": region, "config": config}
        self._single_try_client: Any = None if client is None else client
        self._lock: ObjectLock | None = None
        self._lock_known = False

    @property
    def single_try_client(self) -> Any:
        """A client that tries each call once: for resuming reads, whose own loop retries with backoff."""
        if self._single_try_client is None:
            arguments = dict(self._client_arguments)
            config = arguments["config"]
            assert isinstance(config, Config)
            arguments["config"] = config.merge(Config(retries={"total_max_attempts": 1}))
            self._single_try_client = boto3.session.Session(**self._credentials).client("s3", **arguments)
        return self._single_try_client

    @property
    def url(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def explain(self, error: Exception, action: str, key: str = "", permission: str = "") -> StorageFault:
        """One line naming what failed and the fix, for any boto3 failure; `permission` names the IAM action a
        denial lacks."""
        target = f"s3://{self.bucket}/{self.prefix}{key}"
        if isinstance(error, NoCredentialsError):
            return AccessDenied(
                f"no S3 credentials to {action} {target}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE, or a pod identity)"
            )
        if isinstance(error, EndpointConnectionError):
            endpoint = self.endpoint_url or self.client.meta.endpoint_url
            return TransientFault(f"cannot reach the S3 endpoint {endpoint}: check the endpoint URL and the network")
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket",) or (code == "404" and not key):
                return StorageFault(f"S3 bucket {self.bucket!r} does not exist: create it or fix the storage URL")
            if code in ("NoSuchKey", "404"):
                return ObjectMissing(f"{key} not found in {self.url}")
            if code in _CREDENTIAL_CODES:
                return AccessDenied(
                    f"S3 rejected the credentials ({code}) to {action} {target}: "
                    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                )
            if code in _DENIED_CODES:
                needed = permission or _PERMISSIONS.get(action, "")
                grant = f"grant {needed}" if needed else "grant it"
                return AccessDenied(f"S3 denied permission to {action} {target}: {grant} to these credentials")
            message = error.response.get("Error", {}).get("Message", "") or code
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
                return TransientFault(f"S3 failed to {action} {target} for now ({message}): retry later")
            return StorageFault(f"S3 failed to {action} {target}: {message}")
        if isinstance(error, BotoCoreError):  # timeouts and dropped connections
            return TransientFault(f"S3 failed to {action} {target} for now ({error}): retry later")
        return StorageFault(f"S3 failed to {action} {target}: {error}")

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if not recursive:
            arguments["Delimiter"] = "/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**arguments):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][len(self.prefix) :], int(item["Size"]), item["LastModified"])
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, "list", prefix) from error

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                self._require_bucket()
                return None
            if code in ("400", "403"):
                self._diagnose(key)  # a HEAD answer has no body to say why: ask again with a GET-type call
            raise self.explain(error, "read", key) from error
        except BotoCoreError as error:
            raise self.explain(error, "read", key) from error
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"])

    def _diagnose(self, key: str) -> None:
        """Raises the specific error (bad credentials, no bucket, denied) that a bodiless HEAD hid."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + key, MaxKeys=1)
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, "list", key) from error

    def _require_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, "open") from error

    def open_read(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchKey":
                raise ObjectMissing(f"{key} not found in {self.url}") from None
            raise self.explain(error, "read", key) from error
        except BotoCoreError as error:
            raise self.explain(error, "read", key) from error
        return _PinnedReader(self, key, response)  # type: ignore[return-value]

    def open_write(self, key: str) -> AtomicWriter:
        return _MultipartWriter(self, key)

    def create_new(self, key: str, data: bytes) -> bool:
        # S3's conditional write (If-None-Match: *). A store that ignores the header would let two writers
        # both win: AWS S3, MinIO and moto honour it.
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*")
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise self.explain(error, "write", key) from error
        except BotoCoreError as error:
            raise self.explain(error, "write", key) from error

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, "delete", key) from error

    def destroy(self, key: str) -> None:
        if self.object_lock() is None:
            self.delete(key)
            return
        # Object Lock buckets are versioned: a plain delete only hides the data behind a delete marker (and always
        # "succeeds", locked or not). Versions go oldest first, so one S3 refuses leaves the newest in place, never
        # an older one brought back.
        for version in self._versions(key):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key, VersionId=version)
            except ClientError as error:
                denied = error.response.get("Error", {}).get("Code") in _DENIED_CODES
                locked = self._lock_on(key, version) if denied else None
                raise locked or self.explain(error, "delete a version of", key, "s3:DeleteObjectVersion") from error
            except BotoCoreError as error:
                raise self.explain(error, "delete a version of", key) from error

    def _versions(self, key: str) -> builtins.list[str]:
        """The version ids of `key`: its data oldest first, then its delete markers."""
        full = self.prefix + key
        data: list[str] = []
        markers: list[str] = []
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=full):
                data += [item["VersionId"] for item in page.get("Versions", []) if item["Key"] == full]
                markers += [item["VersionId"] for item in page.get("DeleteMarkers", []) if item["Key"] == full]
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, "list the versions of", key, "s3:ListBucketVersions") from error
        return data[::-1] + markers  # S3 lists each key's versions newest first

    def _lock_on(self, key: str, version: str) -> ObjectLocked | None:
        """Why S3 keeps that version, when its Object Lock does (a refusal says only "Access Denied")."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key, VersionId=version)
        except (ClientError, BotoCoreError):
            return None  # cannot tell: the refusal is reported as it came
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return ObjectLocked(f"{key} is under an S3 legal hold in {self.url}: it stays until the hold is released")
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, datetime) and until > datetime.now(UTC):
            return ObjectLocked(
                f"{key} is locked until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC by S3 Object Lock "
                f"({head.get('ObjectLockMode', 'retention')} mode): it goes once that passes"
            )
        return None

    def object_lock(self) -> ObjectLock | None:
        if not self._lock_known:  # asked once per storage: it changes only when an operator reconfigures the bucket
            self._lock = self._read_object_lock()
            self._lock_known = True
        return self._lock

    def _read_object_lock(self) -> ObjectLock | None:
        try:
            answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in _NO_LOCK_CODES:
                return None
            raise self.explain(error, "read the Object Lock configuration of") from error
        except BotoCoreError as error:
            raise self.explain(error, "read the Object Lock configuration of") from error
        configuration = answer.get("ObjectLockConfiguration", {})
        if configuration.get("ObjectLockEnabled") != "Enabled":
            return None
        default = configuration.get("Rule", {}).get("DefaultRetention", {})
        days = default.get("Days") or 365 * (default.get("Years") or 0) or None
        return ObjectLock(default.get("Mode"), days)

    def set_legal_hold(self, key: str, on: bool) -> bool:
        if self.object_lock() is None:
            return False
        action = "set a legal hold on" if on else "release the legal hold on"
        try:
            self.client.put_object_legal_hold(
                Bucket=self.bucket, Key=self.prefix + key, LegalHold={"Status": "ON" if on else "OFF"}
            )
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, action, key, "s3:PutObjectLegalHold") from error
        return True

    def legal_hold(self, key: str) -> bool | None:
        if self.object_lock() is None:
            return None
        try:
            answer = self.client.get_object_legal_hold(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchObjectLockConfiguration":
                return False  # AWS's answer for an object never held
            if code in ("NoSuchKey", "404", "NoSuchVersion"):
                return None
            raise self.explain(error, "read the legal hold of", key, "s3:GetObjectLegalHold") from error
        except BotoCoreError as error:
            raise self.explain(error, "read the legal hold of", key) from error
        return bool(answer.get("LegalHold", {}).get("Status") == "ON")

    def _incomplete_uploads(self, started_before: datetime) -> builtins.list[dict[str, Any]]:
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
            return [
                upload for page in pages for upload in page.get("Uploads", []) if upload["Initiated"] < started_before
            ]
        except (ClientError, BotoCoreError) as error:
            raise self.explain(error, "list uploads of") from error

    def unfinished_writes(self, started_before: datetime) -> builtins.list[ObjectInfo]:
        return [
            ObjectInfo(upload["Key"][len(self.prefix) :], 0, upload["Initiated"])
            for upload in self._incomplete_uploads(started_before)
        ]

    def discard_unfinished(
        self, started_before: datetime, only: Callable[[str], bool] | None = None
    ) -> builtins.list[str]:
        removed = []
        for upload in self._incomplete_uploads(started_before):
            if only is not None and not only(upload["Key"][len(self.prefix) :]):
                continue
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except (ClientError, BotoCoreError) as error:
                raise self.explain(error, "abort an upload of", upload["Key"]) from error
            removed.append(upload["Key"][len(self.prefix) :])
        return removed


def part_size(number: int) -> int:
    """The size part `number` (from 1) is cut at: 16 MiB for the first 1,000 parts, doubling every 1,000
    after, at most 1 GiB. The 10,000 parts S3 allows then hold about 5 TiB, and small archives still go up
    in small parts."""
    return min(PART_SIZE << ((number - 1) // PARTS_PER_STEP), MAX_PART_SIZE)


class _PinnedReader(io.RawIOBase):
    """Reads one version of an object start to end. A dropped connection or a stalled read resumes at the
    byte where it stopped, with a ranged GET pinned to the object's ETag (so bytes of a replaced object are
    never spliced in), backing off between tries; after READ_ATTEMPTS failures in a row it is a transient
    storage fault, never a corrupt archive."""

    def __init__(self, storage: S3Storage, key: str, response: dict[str, Any]) -> None:
        super().__init__()
        self._storage = storage
        self._key = key
        self._etag = response.get("ETag")
        self._length = int(response.get("ContentLength", 0))
        self._body = response["Body"]
        self.position = 0
        self.resumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        if want == 0 or self.position >= self._length:
            return 0
        failures = 0
        while True:
            try:
                data = self._body.read(want)
                if not data:
                    raise IncompleteReadError(actual_bytes=self.position, expected_bytes=self._length)
            except (BotoCoreError, OSError, HTTPError) as error:
                failures += 1
                if failures >= READ_ATTEMPTS:
                    raise TransientFault(
                        f"S3 reads of {self._key} in {self._storage.url} kept failing at byte {self.position} "
                        f"({error}): check the network and retry"
                    ) from None
                time.sleep(min(0.1 * 2**failures, 8.0))
                self._resume()
                continue
            count = len(data)
            buffer[:count] = data
            self.position += count
            return count

    def _resume(self) -> None:
        self.resumed += 1
        with contextlib.suppress(Exception):
            self._body.close()
        pinned = {"IfMatch": self._etag} if self._etag else {}
        try:
            response = self._storage.single_try_client.get_object(
                Bucket=self._storage.bucket,
                Key=self._storage.prefix + self._key,
                Range=f"bytes={self.position}-",
                **pinned,
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                raise StorageFault(
                    f"{self._key} in {self._storage.url} was replaced or removed while it was being read: "
                    "nothing read from it is used; run again"
                ) from None
            self._body = _FailingBody(self._storage.explain(error, "read", self._key))
            return
        except BotoCoreError as error:
            self._body = _FailingBody(self._storage.explain(error, "read", self._key))
            return
        self._body = response["Body"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


class _FailingBody:
    """Stands for a body whose GET failed: the next read fails, and counts as one more try."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def read(self, size: int = -1) -> bytes:
        raise OSError(str(self._error))

    def close(self) -> None:
        pass


class _MultipartWriter(AtomicWriter):
    """Buffers one part at a time; small objects go up in one PUT at commit, large ones as a multipart
    upload that S3 shows only once completed. Any failure aborts the upload so no parts linger."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self._storage = storage
        self._key = key
        self._buffer = self._new_buffer()
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._closed = False

    def _call(self, action: str, method: str, **arguments: Any) -> Any:
        try:
            return getattr(self._storage.client, method)(
                Bucket=self._storage.bucket, Key=self._storage.prefix + self._key, **arguments
            )
        except (ClientError, BotoCoreError) as error:
            self.abort()
            raise self._storage.explain(error, action, self._key) from error

    @staticmethod
    def _new_buffer() -> Any:
        return tempfile.SpooledTemporaryFile(max_size=PART_SIZE, prefix="vaultui-part-")  # noqa: SIM115

    def write(self, data: bytes | bytearray | memoryview) -> int:
        assert not self._closed, "write after commit or abort"
        self._buffer.write(data)
        self._buffered += len(data)
        if self._buffered >= part_size(len(self._parts) + 1):
            self._upload_part()
        return len(data)

    def _upload_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._call("write", "create_multipart_upload")["UploadId"]
        number = len(self._parts) + 1
        self._buffer.seek(0)
        response = self._call("write", "upload_part", UploadId=self._upload_id, PartNumber=number, Body=self._buffer)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer.close()
        self._buffer = self._new_buffer()
        self._buffered = 0

    def commit(self) -> None:
        if self._closed:
            return
        if self._upload_id is None:
            self._buffer.seek(0)
            self._call("write", "put_object", Body=self._buffer.read())
        else:
            if self._buffered:
                self._upload_part()
            self._call(
                "write",
                "complete_multipart_upload",
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.close()
        self._closed = True

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._buffer.close()
        if self._upload_id is not None:
            try:
                self._storage.client.abort_multipart_upload(
                    Bucket=self._storage.bucket, Key=self._storage.prefix + self._key, UploadId=self._upload_id
                )
            except (ClientError, BotoCoreError):
                pass  # best effort: a bucket lifecycle rule for incomplete uploads cleans up the rest
