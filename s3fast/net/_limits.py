"""How much a server may make a connection hold or scan.

A broken or hostile server must not make memory or CPU grow without bound. Each limit
below is checked as the bytes arrive (never after buffering them), and crossing one is a
``NetworkError`` of kind ``"protocol"`` that names the limit; the connection is then
dropped, never reused.

What an S3 answer needs, and why each bound sits where it does:

- A response head (status line and headers) is a few hundred bytes, a few KiB with user
  metadata (at most 2 KB of it). The head-end finder refuses a head that has not ended
  within ``MAX_HEAD_BYTES`` (less than the connection's fixed head buffer). ``MAX_HEADERS`` bounds the header lines (parsing each costs a dictionary
  entry); S3 sends about twenty.
- ``Content-Length`` is at most ``MAX_CONTENT_LENGTH`` (2^63-1, what a signed 64-bit
  counter holds: the compiled receiver counts in one). Larger objects do not exist
  (S3's maximum is 48.8 TiB).
- Chunked bodies (S3 uses them for XML answers) are decoded with a bounded line:
  ``MAX_CHUNK_LINE`` covers a size line (at most 16 hex digits) with its extensions, and
  each trailer line; ``MAX_TRAILER_BYTES`` bounds the trailer section. A chunk whose
  declared size would take the body over the reader's limit is refused when its size
  line arrives, before any of its data.
- Bodies read whole into memory: ``MAX_ERROR_BODY`` for error documents (S3's are under
  1 KiB), ``MAX_XML_BODY`` for XML answers. The largest legitimate one is a listing page
  of 1,000 keys of up to 1,024 bytes each, escaped (``&quot;`` is six bytes for one), with
  their metadata: about 8 MiB at worst.
"""
from __future__ import annotations

# The head parser's bounds: one value for every layer.
from .._py._common import MAX_HEAD_SIZE as MAX_HEAD_BYTES, MAX_HEADERS, MAX_XML_BODY

MAX_CONTENT_LENGTH = (1 << 63) - 1
MAX_CHUNK_LINE = 4096
MAX_TRAILER_BYTES = 16 * 1024
MAX_ERROR_BODY = 1024 * 1024

__all__ = [
    "MAX_CHUNK_LINE", "MAX_CONTENT_LENGTH", "MAX_ERROR_BODY", "MAX_HEADERS", "MAX_HEAD_BYTES",
    "MAX_TRAILER_BYTES", "MAX_XML_BODY",
]
