"""Which keys a tree operation takes: source wildcards and ``--include``/``--exclude`` (pure).

Two pattern languages, each matching what its users already know:

* **source wildcards** (``s3://b/logs/*/2024-??.gz``, ``./data/**.csv``), path-aware like a
  shell glob: ``*`` and ``?`` stay within one path segment, ``**`` crosses ``/``. ``raw``
  turns them off (a key may really contain ``*``). The fixed part before the first wildcard
  is what is listed, so a wildcard never lists more than its literal prefix.
* **filters** (``--exclude '*.tmp' --include 'keep/*'``), the aws CLI's: every pattern is
  matched against the whole relative key with ``*`` crossing ``/``; filters apply in order,
  the LAST one that matches decides, and a key no filter matches is included.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WILD = "*?"


def has_wildcard(text: str) -> bool:
    return any(c in text for c in _WILD)


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class SourcePattern:
    """A source key or path split for listing: ``base`` is listed, ``regex`` (None: every key
    under ``base``) picks keys, and a picked key's relative name is what follows ``base``."""

    base: str
    regex: re.Pattern[str] | None

    def matches(self, key: str) -> bool:
        return self.regex is None or self.regex.fullmatch(key) is not None

    def relative(self, key: str) -> str:
        return key[len(self.base):]


def source_pattern(text: str, *, raw: bool = False) -> SourcePattern | None:
    """The listing base and matcher of a wildcard source; None when ``text`` has no wildcard
    (or ``raw``): the caller then treats it as a literal key, prefix or path."""
    if raw or not has_wildcard(text):
        return None
    first = min(i for i, c in enumerate(text) if c in _WILD)
    cut = text.rfind("/", 0, first) + 1
    return SourcePattern(text[:cut], re.compile(re.escape(text[:cut]) + _glob_regex(text[cut:]), re.S))


def _filter_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.S)


@dataclass(frozen=True)
class Filters:
    """aws CLI ``--include``/``--exclude`` in command-line order: ``(("exclude", "*.tmp"), ...)``."""

    rules: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def build(cls, rules: Sequence[tuple[str, str]]) -> Filters:
        for kind, _ in rules:
            if kind not in ("include", "exclude"):
                raise ValueError(f"filter kind must be include or exclude, got {kind!r}")
        return cls(tuple((kind, _filter_regex(p)) for kind, p in rules))

    def accepts(self, relative: str) -> bool:
        verdict = True
        for kind, regex in self.rules:
            if regex.fullmatch(relative) is not None:
                verdict = kind == "include"
        return verdict


__all__ = ["Filters", "SourcePattern", "has_wildcard", "source_pattern"]
