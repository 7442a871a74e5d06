"""Exceptions raised by s3fast.

Hierarchy (flat on purpose: catch ``S3FastError`` for everything)::

    S3FastError
    ├── ConfigError            bad option value, bad URL, bad --resolve entry
    ├── CredentialsError       no credentials found / credentials unusable
    ├── LocalIOError           unreadable source, unwritable destination
    ├── TransferError          a transfer failed after retries (wraps the last cause)
    │   └── ChecksumMismatch   received bytes do not match the checksum S3 stored
    ├── S3Error                S3 answered with an error status or an <Error> body
    │   ├── NoSuchBucket
    │   ├── NoSuchKey          (also a 404 on HEAD)
    │   ├── AccessDenied
    │   └── PreconditionFailed (412: the object changed while it was being read)
    └── NetworkError           connect/reset/short read/timeout (retryable by nature)
        └── RequestTimeout     one of the configured timeouts fired

Every S3Error carries ``status``, ``code``, ``message`` and ``request_id`` so a
failure can be reported to AWS support as is.
"""
from __future__ import annotations


class S3FastError(Exception):
    """Base class of every error s3fast raises."""


class ConfigError(S3FastError, ValueError):
    """An option, URL or argument is invalid."""


class CredentialsError(S3FastError):
    """No usable AWS credentials."""


class LocalIOError(S3FastError, OSError):
    """A local file could not be read or written."""


class TransferError(S3FastError):
    """A transfer failed; ``__cause__`` holds the last underlying error."""


class ChecksumMismatch(TransferError):
    """Downloaded or uploaded bytes do not match the expected checksum."""

    def __init__(self, message: str, *, algorithm: str = "", expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class NetworkError(S3FastError, ConnectionError):
    """The connection failed: refused, reset, closed early, or too slow."""

    def __init__(self, message: str, *, ip: str | None = None, kind: str = "connection") -> None:
        super().__init__(message)
        self.ip = ip
        #: "connect", "reset", "short-read", "protocol", "timeout"
        self.kind = kind


class RequestTimeout(NetworkError):
    """A configured timeout fired (connect, first byte, idle, low speed, deadline)."""

    def __init__(self, message: str, *, ip: str | None = None, stage: str = "idle") -> None:
        super().__init__(message, ip=ip, kind="timeout")
        #: "connect", "first-byte", "idle", "low-speed", "deadline"
        self.stage = stage


class S3Error(S3FastError):
    """S3 answered with an error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        resource: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.resource = resource
        self.headers = headers or {}
        text = f"{code} ({status})"
        if message:
            text += f": {message}"
        if resource:
            text += f" [{resource}]"
        if request_id:
            text += f" request-id={request_id}"
        super().__init__(text)


class NoSuchBucket(S3Error):
    """The bucket does not exist."""


class NoSuchKey(S3Error):
    """The key does not exist."""


class AccessDenied(S3Error):
    """The credentials are not allowed to do this."""


class PreconditionFailed(S3Error):
    """412: the object changed (its ETag no longer matches) while being read."""


_BY_CODE: dict[str, type[S3Error]] = {
    "NoSuchBucket": NoSuchBucket,
    "NoSuchKey": NoSuchKey,
    "AccessDenied": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "PreconditionFailed": PreconditionFailed,
}


def s3_error(
    status: int,
    code: str | None,
    message: str | None,
    *,
    request_id: str | None = None,
    resource: str | None = None,
    headers: dict[str, str] | None = None,
) -> S3Error:
    """Build the most specific S3Error subclass for a response."""
    if not code:
        # HEAD errors have no body: name them from the status alone.
        code = {
            404: "NotFound",
            403: "Forbidden",
            412: "PreconditionFailed",
            503: "SlowDown",
            500: "InternalError",
        }.get(status, f"HTTP{status}")
    cls = _BY_CODE.get(code, S3Error)
    if cls is S3Error and status == 412:
        cls = PreconditionFailed
    return cls(status, code, message or "", request_id=request_id, resource=resource, headers=headers)
