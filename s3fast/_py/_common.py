"""What the compiled core and its pure twins share: one definition each of the limits,
the receive modes, the file stages, the exceptions and the checks of untrusted input.

Both twins import these names from here (the compiled modules copy the numbers into C
variables when they load), so a limit or a mode cannot drift between the two.
"""
from __future__ import annotations

import os

from .._errors import ConfigError

# -- response heads -------------------------------------------------------------------
#: Largest response head accepted, its terminating empty line included. S3's heads are a
#: few KiB (user metadata is capped at 2 KiB); anything far larger is a broken or hostile
#: server, refused as the bytes arrive instead of being buffered.
MAX_HEAD_SIZE = 64 * 1024
#: Most header lines in one response head. 2 KiB of metadata allows ~1,000 tiny
#: ``x-amz-meta-`` headers, so twice that is never a real S3 answer.
MAX_HEADERS = 2048
#: Largest Content-Length accepted: what fits a signed 64-bit integer (a C ``long long``
#: in the compiled receiver, an ``off_t`` for the file it lands in).
MAX_CONTENT_LENGTH = 2**63 - 1
#: the largest XML answer read or parsed (a ListObjectsV2 page of 1,000 long, escaped keys
#: stays under half of it); the connection and the XML parser take this one value
MAX_XML_BODY = 16 * 1024 * 1024
_MAX_CL_DIGITS = len(str(MAX_CONTENT_LENGTH))


class HeadError(ValueError):
    """The bytes are not a valid HTTP/1.1 response head (or exceed its limits)."""


def parse_content_length(value: str) -> int:
    """A Content-Length value as an int: ASCII digits only (no sign, space, underscore or
    other digit forms ``int()`` would take), at most ``MAX_CONTENT_LENGTH``.

    Checked before any arithmetic, so a hostile value never becomes a huge allocation or
    overflows a C integer."""
    if not (0 < len(value) <= _MAX_CL_DIGITS and value.isascii() and value.isdigit()):
        raise HeadError(f"bad Content-Length: {value[:40]!r}")
    n = int(value)
    if n > MAX_CONTENT_LENGTH:
        raise HeadError(f"Content-Length {value} is too large")
    return n


# -- the receive path -----------------------------------------------------------------
MODE_IDLE = 0
MODE_HEAD = 1
MODE_HELD = 2
MODE_BODY = 3
MODE_FILE = 4
MODE_STASH = 5

#: Per-connection buffer for response heads, and for whole bodies that fit beside their
#: head (``MODE_STASH``): a response of up to ~128 KiB then needs no buffer from the
#: reader, no pause of the socket, and wakes the reader once, with the body complete. It
#: is also the cap on such a body: a larger one is never stashed.
HEAD_BUFFER_SIZE = 136 * 1024
#: file mode calls its progress callback after at least this many new bytes
FILE_PROGRESS_STEP = 1024 * 1024

# -- small files ----------------------------------------------------------------------
#: what failed, per file of ``write_files``: creating, writing, naming
OPEN = 1
WRITE = 2
NAME = 3


def check_path(path: str | bytes) -> None:
    """Refuse a local path with a NUL byte: the C library would silently cut it there
    (``report.pdf\\0.txt`` would write ``report.pdf``)."""
    if b"\0" in path if isinstance(path, bytes) else "\0" in path:
        shown = os.fsdecode(path) if isinstance(path, bytes) else path
        raise ConfigError(f"local path contains a NUL byte: {shown!r}")


# -- request heads --------------------------------------------------------------------
def _bad_text(text: str) -> str | None:
    if "\r" in text or "\n" in text or "\0" in text:
        return "contains CR, LF or NUL"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "is not latin-1 text"
    return None


def check_request(method: str, target: str, headers: object, user_agent: str) -> None:
    """Refuse a request whose head could break its framing (CR, LF or NUL in a header
    name or value, the method, target or User-Agent) or cannot be sent (not latin-1).

    The last line of defence, run by both twins before a head is built: user input is
    validated, with friendlier messages, before it gets here."""
    for what, text in (("method", method), ("request target", target), ("User-Agent", user_agent)):
        why = _bad_text(text)
        if why or (what != "User-Agent" and " " in text):
            raise ConfigError(f"{what} {text[:80]!r} {why or 'contains a space'}")
    for name, value in headers:  # type: ignore[attr-defined]
        why = _bad_text(name)
        if why:
            raise ConfigError(f"header name {name[:80]!r} {why}")
        why = _bad_text(value)
        if why:
            raise ConfigError(f"value of header {name[:80]!r} {value[:80]!r} {why}")
