"""Object keys <-> local paths, never outside the destination (pure).

An object key is any UTF-8 string: ``../../etc/passwd``, ``/etc/x``, ``a/../../x``, one
with a NUL or a backslash. Mapped naively into a directory they write anywhere the user
can. Such keys are not mapped (the caller skips them with a warning and goes on) rather
than rewritten: a rewritten name could collide with a legitimate key's file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Unsafe:
    """Why a key has no local path."""

    reason: str


def local_path(root: str, relative: str) -> str | Unsafe:
    """Where the object ``relative`` (its key minus the source prefix) lands under ``root``."""
    if not relative:
        return Unsafe("empty name")
    if "\x00" in relative:
        return Unsafe("key contains a NUL byte")
    if "\\" in relative:
        return Unsafe("key contains a backslash")
    if relative.startswith("/"):
        return Unsafe("absolute key")
    segments = relative.split("/")
    for seg in segments:
        if seg in ("..", "."):
            return Unsafe(f"key has a {seg!r} segment")
        if seg == "":
            return Unsafe("key has an empty segment ('//' or a trailing '/')")
    path = os.path.join(root, *segments)
    # Belt and braces: whatever the segments were, the joined path must stay under root.
    # Absolute first: normpath turns "./k" into "k", which shares no path with "." itself.
    base = os.path.abspath(root)
    norm = os.path.abspath(path)
    if os.path.commonpath([base, norm]) != base or norm == base:
        return Unsafe("key escapes the destination")
    return path


def is_dir_marker(key: str, size: int) -> bool:
    """A zero-byte key ending in '/' is a console "folder", not a file to create."""
    return size == 0 and key.endswith("/")


def key_for(relative_path: str) -> str:
    """The key suffix of a file found under a walked directory (``os.sep`` -> ``/``)."""
    return relative_path.replace(os.sep, "/") if os.sep != "/" else relative_path


def join_key(prefix: str, relative: str) -> str:
    """``prefix`` + ``relative``, with exactly one '/' between a non-empty prefix and the rest."""
    if not prefix:
        return relative
    return prefix + relative if prefix.endswith("/") else f"{prefix}/{relative}"


__all__ = ["Unsafe", "is_dir_marker", "join_key", "key_for", "local_path"]
