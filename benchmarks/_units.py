"""Byte-size parsing and formatting shared by workloads, the CLI and reports.

Sizes in workload files and on the command line are written the way S3 tools write them
(``8MiB``, ``2GiB``, ``64KiB``, plain integers are bytes). Decimal suffixes (``MB``, ``GB``)
are accepted too and mean powers of ten, so ``5GB`` and ``5GiB`` never get confused.
"""
from __future__ import annotations

import re

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

MB = 10**6
GIB = 1 << 30
MIB = 1 << 20


def parse_size(text: str | int) -> int:
    """Return the number of bytes in ``text`` (``"8MiB"`` -> 8388608); ints pass through."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"negative size: {text}")
        return text
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown size unit {unit!r} in {text!r}")
    value = float(number) * factor
    if value != int(value):
        raise ValueError(f"size is not a whole number of bytes: {text!r}")
    return int(value)


def format_size(n: int) -> str:
    """Shortest exact binary spelling: 2147483648 -> ``"2GiB"``, 1000 -> ``"1000B"``."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"
