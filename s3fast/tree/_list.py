"""Streamed listers: a local walk and S3 ListObjectsV2 pages, as :class:`Entry` records.

Neither holds more than one directory's names or one listing page: entries are yielded as
they are found, so transfers start while the listing goes on.
"""
from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_plus

from .._s3xml import ObjectInfo, parse_list_v2
from .._transport import Request, Transport
from ._decide import Entry, parse_s3_time
from ._paths import key_for

if TYPE_CHECKING:
    from .._client import Client

#: entries between two yields to the event loop during a local walk
_YIELD_EVERY = 256


class WalkError(OSError):
    """A directory of the walk could not be read."""


async def walk_local(root: str, *, follow_symlinks: bool = True,
                     errors: list[tuple[str, str]] | None = None) -> AsyncIterator[Entry]:
    """Every regular file under ``root`` (a directory), relative names with '/'.

    ``follow_symlinks``: a link to a file is that file, a link to a directory is walked
    (each real directory once, so a link loop ends); without it links are skipped, as the
    aws CLI's ``--no-follow-symlinks`` does. Unreadable directories are appended to
    ``errors`` (path, message) and skipped.
    """
    seen: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
        seen.add((st.st_dev, st.st_ino))
    except OSError as exc:
        raise WalkError(f"cannot read {root}: {exc.strerror}") from None
    stack = [""]
    count = 0
    while stack:
        rel_dir = stack.pop()
        path = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(path) as it:
                dir_entries = list(it)
        except OSError as exc:
            if errors is not None:
                errors.append((path, exc.strerror or str(exc)))
            continue
        dir_entries.sort(key=lambda e: e.name)
        subdirs: list[str] = []
        for e in dir_entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                if e.is_symlink() and not follow_symlinks:
                    continue
                st = e.stat(follow_symlinks=True)
            except OSError:
                continue  # a dangling link, or a file removed since scandir
            if stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident not in seen:
                    seen.add(ident)
                    subdirs.append(rel)
            elif stat.S_ISREG(st.st_mode):
                yield Entry(key_for(rel), st.st_size, st.st_mtime, e.path)
                count += 1
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        stack.extend(reversed(subdirs))


@dataclass(frozen=True)
class Page:
    """One ListObjectsV2 page, keys and prefixes decoded."""

    objects: list[ObjectInfo]
    prefixes: list[str]


async def list_pages(transport: Transport, bucket: str, prefix: str, *,
                     delimiter: str | None = None) -> AsyncIterator[Page]:
    """ListObjectsV2 pages under ``prefix``, with ``encoding-type=url``: a key holding a
    character XML 1.0 cannot carry (a control character) is still listed, not an unparsable
    answer. S3 encodes a space as '+' and a '+' as '%2B', hence ``unquote_plus``.
    Reached through :meth:`s3fast.Client.list_pages`, which owns the transport."""
    token: str | None = None
    while True:
        params = [("encoding-type", "url"), ("list-type", "2"), ("prefix", prefix)]
        if delimiter:
            params.append(("delimiter", delimiter))
        if token:
            params.append(("continuation-token", token))
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params))
        _, body = await transport.call(Request("GET", bucket, None, query=query))
        page = parse_list_v2(body)
        yield Page([ObjectInfo(unquote_plus(o.key), o.size, o.etag, o.last_modified) for o in page.objects],
                   [unquote_plus(p) for p in page.prefixes])
        if not page.next_token:
            return
        token = page.next_token


async def list_s3(client: Client, bucket: str, base: str) -> AsyncIterator[Entry]:
    """Every object whose key starts with ``base``; relative names are the rest of the key."""
    n = len(base)
    async for page in client.list_pages(bucket, base):
        for obj in page.objects:
            yield Entry(obj.key[n:], obj.size, parse_s3_time(obj.last_modified), obj.key, obj.etag)


__all__ = ["Page", "WalkError", "list_pages", "list_s3", "walk_local"]
