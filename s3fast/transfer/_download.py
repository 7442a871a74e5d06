"""Downloads: one GET first, then the other ranges in parallel, each pinned to the first
answer's ETag with If-Match.

The first GET needs no HEAD before it: its headers give size, ETag and checksum, and its
body the first range (a small object is done in this one request). Bytes land in place:
a file destination gets positional writes into a file named only when every byte arrived
and the checksum matched (``_localfs``); a buffer receives straight into the caller's
memory; file objects, devices and streams get bytes in order (``_ordered``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._impl import load_twin
from ._localfs import proc_fd
from ._ordered import stream

# The request pipeline of a download (its sink, first GET, the ranges after it) runs per
# object on the loop thread: it lives in s3fast/_py/_fetch.py, compiled when the core is built.
if TYPE_CHECKING:
    from .._py._fetch import Rest as _Rest
    from .._py._fetch import download, first_get, open_sink
else:
    fetch_impl = load_twin("_fetch")
    _Rest = fetch_impl.Rest
    download = fetch_impl.download
    first_get = fetch_impl.first_get
    open_sink = fetch_impl.open_sink

# proc_fd: named here too for code that imported it from this module before the split
__all__ = ["_Rest", "download", "first_get", "open_sink", "proc_fd", "stream"]
