"""Streamed listers: a local walk and S3 ListObjectsV2 pages, as :class:`Entry` records.

Neither holds more than one directory's names or one listing page: entries are yielded as
they are found, so transfers start while the listing goes on.
"""
from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Iterator
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


def _sort_name(name: str, is_dir: bool) -> str:
    # A directory's files are keys "<name>/...": it sorts as "<name>/", so "a-b" and "a.b"
    # come before the files of "a", and "a0" after them, as S3 lists keys.
    return name + "/" if is_dir else name


def _read_dir(path: str, follow_symlinks: bool) -> list[tuple[str, os.DirEntry[str], os.stat_result]]:
    """One directory's regular files and subdirectories, in S3's key order."""
    out: list[tuple[str, os.DirEntry[str], os.stat_result]] = []
    with os.scandir(path) as it:
        for e in it:
            try:
                if e.is_symlink() and not follow_symlinks:
                    continue
                st = e.stat(follow_symlinks=True)
            except OSError:
                continue  # a dangling link, or a file removed since scandir
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                out.append((_sort_name(e.name, stat.S_ISDIR(st.st_mode)), e, st))
    out.sort(key=lambda t: t[0])
    return out


async def walk_local(root: str, *, follow_symlinks: bool = True,
                     errors: list[tuple[str, str]] | None = None) -> AsyncIterator[Entry]:
    """Every regular file under ``root`` (a directory), relative names with '/', in the order
    S3 lists the same keys (code point order, which is UTF-8 byte order): a sync merges the
    two listings side by side instead of holding one of them.

    Holds one sorted directory per level of depth, never the whole tree. ``follow_symlinks``:
    a link to a file is that file, a link to a directory is walked, except a link back to a
    directory being walked (a loop); without it links are skipped, as the aws CLI's
    ``--no-follow-symlinks`` does. Unreadable directories are appended to ``errors`` (path,
    message) and skipped.
    """
    try:
        st = os.stat(root)
    except OSError as exc:
        raise WalkError(f"cannot read {root}: {exc.strerror}") from None
    # (relative directory, its entries, (dev, inode)) for each directory being walked
    stack: list[tuple[str, Iterator[tuple[str, os.DirEntry[str], os.stat_result]], tuple[int, int]]] = []
    try:
        stack.append(("", iter(_read_dir(root, follow_symlinks)), (st.st_dev, st.st_ino)))
    except OSError as exc:
        if errors is not None:
            errors.append((root, exc.strerror or str(exc)))
        return
    count = 0
    while stack:
        rel_dir, it, _ = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            stack.pop()
            continue
        _, e, est = nxt
        rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
        if stat.S_ISDIR(est.st_mode):
            ident = (est.st_dev, est.st_ino)
            if any(ident == walking for _, _, walking in stack):
                continue  # a link back to a directory being walked
            try:
                stack.append((rel, iter(_read_dir(e.path, follow_symlinks)), ident))
            except OSError as exc:
                if errors is not None:
                    errors.append((e.path, exc.strerror or str(exc)))
            continue
        yield Entry(key_for(rel), est.st_size, est.st_mtime, e.path)
        count += 1
        if count % _YIELD_EVERY == 0:
            await asyncio.sleep(0)


@dataclass(frozen=True)
class Page:
    """One ListObjectsV2 page, keys and prefixes decoded."""

    objects: list[ObjectInfo]
    prefixes: list[str]


async def list_pages(transport: Transport, bucket: str, prefix: str, *,
                     delimiter: str | None = None, start_after: str | None = None) -> AsyncIterator[Page]:
    """ListObjectsV2 pages under ``prefix``, with ``encoding-type=url``: a key holding a
    character XML 1.0 cannot carry (a control character) is still listed, not an unparsable
    answer. S3 encodes a space as '+' and a '+' as '%2B', hence ``unquote_plus``.
    ``start_after``: only keys after this one (S3's ``start-after``: byte order).
    Reached through :meth:`s3fast.Client.list_pages`, which owns the transport."""
    token: str | None = None
    while True:
        params = [("encoding-type", "url"), ("list-type", "2"), ("prefix", prefix)]
        if delimiter:
            params.append(("delimiter", delimiter))
        if start_after and not token:  # the token carries it on
            params.append(("start-after", start_after))
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
