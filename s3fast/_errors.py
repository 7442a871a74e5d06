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
failure can be reported to AWS support as is. Those attributes keep the server's text as
received; the exception's message (``str(exc)``) shows it through :func:`printable`, so a
hostile or broken server cannot reach a terminal with escape sequences or page-long text.
"""
from __future__ import annotations

import unicodedata

#: How much of one server-supplied field an error message shows.
MAX_SHOWN = 512


def printable(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` made safe to print on a terminal or in a log line.

    Control characters (C0, DEL, C1: ESC starts the CSI/OSC sequences that recolour,
    retitle or rewrite a terminal), format characters (bidi overrides that reorder what
    is shown), line/paragraph separators and lone surrogates are shown as ``\\xNN`` /
    ``\\uNNNN`` escapes; other text, non-ASCII letters included, is kept. Longer than
    ``limit`` characters: cut, saying how much was left out.
    """
    s = text if isinstance(text, str) else str(text)
    cut = len(s) - limit
    if cut > 0:
        s = s[:limit]
    if not (s.isascii() and s.isprintable()):
        s = "".join(ch if _shown_as_is(ch) else _escape(ch) for ch in s)
    return s if cut <= 0 else f"{s}... ({cut} more characters)"


def _shown_as_is(ch: str) -> bool:
    if " " <= ch <= "~":
        return True
    category = unicodedata.category(ch)
    return category[0] != "C" and category not in ("Zl", "Zp")


def _escape(ch: str) -> str:
    o = ord(ch)
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


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
        # Messages can quote what the server sent (a status line, a header): shown safely.
        super().__init__(printable(message, 2 * MAX_SHOWN))
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
        text = f"{printable(code, 64)} ({status})"
        if message:
            text += f": {printable(message)}"
        if resource:
            text += f" [{printable(resource)}]"
        if request_id:
            text += f" request-id={printable(request_id, 128)}"
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
