"""The two sides of a tree operation and what each lists.

A side is a local directory or an S3 prefix (``Place``), possibly narrowed by a wildcard;
:func:`entries` streams the objects or files it holds that the pattern and the filters take.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._errors import ConfigError
from .._url import is_s3_url, parse_s3_url
from ._decide import Entry
from ._list import list_s3, walk_local
from ._match import Filters, SourcePattern, source_pattern
from ._paths import is_dir_marker

if TYPE_CHECKING:
    from .._client import Client


@dataclass(frozen=True)
class Place:
    """One side of a tree operation: a local directory or an S3 prefix (``base``)."""

    root: str | None = None
    bucket: str | None = None
    base: str = ""
    pattern: SourcePattern | None = None

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    def url(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.base}{relative}"


def _dir_base(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def source_place(text: str, *, raw: bool = False) -> Place:
    """A tree source: ``s3://b/prefix`` (the prefix as a directory), ``s3://b/a/*.gz``,
    a directory, or a local wildcard such as ``data/**.csv``."""
    if is_s3_url(text):
        u = parse_s3_url(text, require_key=False)
        pat = source_pattern(u.key, raw=raw)
        if pat is not None:
            return Place(bucket=u.bucket, base=pat.base, pattern=pat)
        return Place(bucket=u.bucket, base=_dir_base(u.key))
    pat = source_pattern(text, raw=raw)
    if pat is not None:
        return Place(root=pat.base or ".", pattern=pat)
    return Place(root=text)


def dest_place(text: str) -> Place:
    if is_s3_url(text):
        u = parse_s3_url(text, require_key=False)
        return Place(bucket=u.bucket, base=_dir_base(u.key))
    return Place(root=text)


def inner_prefix(outer: Place, inner: Place) -> str | None:
    """``inner``'s prefix when it lies inside ``outer``'s in the same bucket, else None:
    what ``outer``'s listing must leave out. A destination inside the source (``s3://b/p/``
    to ``s3://b/p/z/``): the source listing goes on while the copies are written, and later
    pages would copy the copies (p/z/z/...). A source inside the destination: a sync's
    ``--delete`` would take the source's own objects for extras."""
    if not (outer.is_s3 and inner.is_s3) or outer.bucket != inner.bucket:
        return None
    return inner.base if inner.base != outer.base and inner.base.startswith(outer.base) else None


async def entries(client: Client, place: Place, filters: Filters, *, follow_symlinks: bool = True,
                  on_listed: Callable[[Entry | None], None] | None = None,
                  leave_out: str | None = None,
                  listing: AsyncIterator[Entry] | None = None) -> AsyncIterator[Entry]:
    """The objects or files of ``place`` that its pattern and ``filters`` take; keys under
    the prefix ``leave_out`` are not (see :func:`inner_prefix`). ``listing``: what lists
    ``place`` (default: one ListObjectsV2 stream, or a local walk)."""
    pat = place.pattern
    if listing is None and place.is_s3:
        assert place.bucket is not None
        listing = list_s3(client, place.bucket, place.base)
    elif listing is None:
        assert place.root is not None
        if not os.path.isdir(place.root):
            raise ConfigError(f"not a directory: {place.root}")
        listing = walk_local(place.root, follow_symlinks=follow_symlinks)
    async for e in listing:
        if place.is_s3 and is_dir_marker(e.relative, e.size):
            continue
        if leave_out is not None and e.location.startswith(leave_out):
            continue
        if pat is not None:
            full = e.location if place.is_s3 else pat.base + e.relative
            if not pat.matches(full):
                continue
        if not e.relative or not filters.accepts(e.relative):
            continue
        if on_listed is not None:
            on_listed(e)
        yield e
    if on_listed is not None:
        on_listed(None)  # the listing is complete: the total is final


__all__ = ["Place", "dest_place", "entries", "inner_prefix", "source_place"]
