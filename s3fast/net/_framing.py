"""How a response's body is delimited, decided from its status and headers (RFC 9112 6.3).

Pure and strict: a length this client cannot trust is refused rather than guessed, since
a wrong length desynchronises a keep-alive connection (the next answer would be read
from the middle of this one's body).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._limits import MAX_CONTENT_LENGTH

#: the longest Content-Length that cannot exceed MAX_CONTENT_LENGTH, whatever its digits
_SAFE_DIGITS = len(str(MAX_CONTENT_LENGTH)) - 1


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: str
    headers: dict[str, str]
    #: body length from Content-Length; -1 when chunked or delimited by close.
    content_length: int
    chunked: bool

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


class FramingError(ValueError):
    """The head does not say unambiguously where the body ends."""


def content_length(value: str) -> int:
    """A Content-Length value: ASCII digits only (no sign, no spaces inside, no
    underscores, no other scripts' digits, all of which ``int()`` takes), at most
    ``MAX_CONTENT_LENGTH``. A list of equal values (a repeated header, joined with
    ", ") is that value, as RFC 9110 8.6 allows; differing values are refused."""
    if value.isascii() and value.isdigit() and len(value) <= _SAFE_DIGITS:
        return int(value)  # the common case
    v = value
    if "," in value:
        values = {v.strip(" \t") for v in value.split(",")}
        if len(values) != 1:
            raise FramingError(f"conflicting Content-Length values {value[:80]!r}")
        v = values.pop()
    if not (v.isascii() and v.isdigit()):
        raise FramingError(f"bad Content-Length {value[:80]!r}")
    n = int(v)
    if n > MAX_CONTENT_LENGTH:
        raise FramingError(f"Content-Length {v[:40]} is larger than {MAX_CONTENT_LENGTH}")
    return n


_NO_BODY = (0, False)
_CHUNKED = (-1, True)
_UNTIL_CLOSE = (-1, False)


def body_length(status: int, headers: dict[str, str], head_request: bool) -> tuple[int, bool]:
    """``(length, chunked)`` of the body that follows this head: ``length`` is -1 when the
    body is chunked or delimited by the connection's close.

    A repeated Content-Length of one value is rewritten in ``headers`` as that value, so
    later readers of the header see one number.
    """
    cl = headers.get("content-length")
    n = -1
    if cl is not None:
        if cl.isdigit() and cl.isascii() and len(cl) <= _SAFE_DIGITS:
            n = int(cl)  # the common case, without a call
        else:
            n = content_length(cl)
            if cl != str(n):
                headers["content-length"] = str(n)
    if head_request or status < 200 or status == 204 or status == 304:
        return _NO_BODY
    te = headers.get("transfer-encoding")
    if te is not None:
        if te.strip(" \t").lower() != "chunked":
            raise FramingError(f"unsupported Transfer-Encoding {te[:80]!r}")
        if cl is not None:
            # RFC 9112 6.3: a sign of response splitting; to be handled as an error.
            raise FramingError("both Transfer-Encoding and Content-Length")
        return _CHUNKED
    return (n, False) if cl is not None else _UNTIL_CLOSE
