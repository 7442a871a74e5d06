"""Byte sizes: parsing ``8MiB`` / ``5GB`` / ``1048576`` and printing them back."""
from __future__ import annotations

import re

from ._errors import ConfigError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": KiB,
    "m": 1000**2, "mb": 1000**2, "mib": MiB,
    "g": 1000**3, "gb": 1000**3, "gib": GiB,
    "t": 1000**4, "tb": 1000**4, "tib": TiB,
}
_SIZE_RE = re.compile(r"^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Z]{0,3})\s*$")
#: No size s3fast handles comes near this (S3 objects stop at 48.8 TiB); native code holds
#: sizes in 64-bit integers.
MAX_SIZE = 2**63 - 1


def parse_size(text: str | int) -> int:
    """``"8MiB"`` -> 8388608. Decimal units (MB) are powers of 1000, binary (MiB) of 1024.

    Exact integer arithmetic (a float would turn a 310-digit count into ``inf``); a
    fraction of a byte is rounded down; anything above :data:`MAX_SIZE` is refused.
    """
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ConfigError(f"not a size: {text!r} (expected e.g. 8MiB, 64KiB, 5GB or a byte count)")
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE_RE.match(text)
        if not m or m.group(3).lower() not in _UNITS:
            if text.strip().startswith("-"):
                raise ConfigError(f"a size must not be negative, got {text[:40]!r}")
            raise ConfigError(f"not a size: {text[:40]!r} (expected e.g. 8MiB, 64KiB, 5GB or a byte count)")
        whole, frac, unit = m.group(1).lstrip("0") or "0", (m.group(2) or "")[:20], m.group(3).lower()
        if len(whole) > 25:  # far above MAX_SIZE whatever the unit; int() of it would be wasted work
            raise ConfigError(f"size too large: {text[:40]!r}... (at most {MAX_SIZE} bytes)")
        value = (int(whole + frac) * _UNITS[unit]) // 10 ** len(frac)
    if value < 0:
        raise ConfigError(f"a size must not be negative, got {value}")
    if value > MAX_SIZE:
        raise ConfigError(f"size too large: {str(text)[:40]!r} (at most {MAX_SIZE} bytes)")
    return value


def format_size(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit, scale in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"
