"""Coalescing the ranges of one ``cat_ranges`` call (pure): ranges of the same object that
lie close together are fetched as one GET and sliced apart.

A GET costs a round trip and a request's fixed cost on both ends; reading 1 MiB more on
the same connection costs less than that. So ranges whose gap is at most ``gap`` bytes are
merged, up to ``max_size`` bytes per merged range (a larger one is still split into
parallel GETs by the reader). Hundreds of 16 KiB reads scattered over a Parquet file
become a few GETs instead of hundreds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: ranges closer than this are read as one
DEFAULT_GAP = 1024 * 1024
#: a merged range stops growing here
DEFAULT_MAX_SIZE = 64 * 1024 * 1024


@dataclass
class Group:
    """One GET: ``[start, end)`` of ``path``, and the ranges ``(index, start, end)`` in it."""

    path: str
    start: int
    end: int
    members: list[tuple[int, int, int]] = field(default_factory=list)


def coalesce(ranges: list[tuple[str, int | None, int | None]], *, gap: int = DEFAULT_GAP,
             max_size: int = DEFAULT_MAX_SIZE) -> tuple[list[Group], list[int]]:
    """Groups for the plain ranges (``0 <= start <= end``), and the indices of the others
    (``None`` or negative bounds: relative to an object size not known here), which the
    caller reads one by one."""
    by_path: dict[str, list[tuple[int, int, int]]] = {}
    others: list[int] = []
    for i, (path, start, end) in enumerate(ranges):
        if start is None or end is None or start < 0 or end < start:
            others.append(i)
            continue
        by_path.setdefault(path, []).append((start, end, i))
    groups: list[Group] = []
    for path, items in by_path.items():
        items.sort()
        current: Group | None = None
        for start, end, i in items:
            if (current is not None and start - current.end <= gap
                    and max(end, current.end) - current.start <= max_size):
                current.end = max(current.end, end)
            else:
                current = Group(path, start, end)
                groups.append(current)
            current.members.append((i, start, end))
    return groups, others


__all__ = ["DEFAULT_GAP", "DEFAULT_MAX_SIZE", "Group", "coalesce"]
