"""S3's limits, the documented ranges of options, and the checks that enforce them."""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

from .._errors import ConfigError
from .._units import GiB

#: S3's limits on multipart uploads.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE  # 48.8 TiB
MAX_SINGLE_PUT = 5 * GiB

CHECKSUM_ALGORITHMS = ("crc64nvme", "crc32c", "crc32", "none")

#: Upper ends of the documented ranges. Nothing real comes near them; they exist so that a
#: typo (1e308, a 310-digit size) is refused with a message instead of overflowing a timer,
#: a float-to-int conversion or a 64-bit field somewhere deep inside.
MAX_GBPS = 10_000.0           # 10 Tbps: above any single host's network
MAX_CONCURRENCY = 10_000      # S3's part count: more requests than parts is never useful
MAX_MEMORY_LIMIT = 1024 * GiB
MAX_SECONDS = 10_000_000.0    # ~116 days, for any timeout or deadline


def check_int(owner: str, name: str, value: object, low: int, high: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{owner}{name} must be between {low} and {high}{unit}, got {value}")


def check_number(owner: str, name: str, value: object, high: float, unit: str = "") -> None:
    """A finite number in (0, high]: NaN, infinities, zero and negatives are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{owner}{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and 0 < value <= high):
        raise ConfigError(f"{owner}{name} must be > 0 and at most {high:g}{unit}, got {value!r}")


def check_type(owner: str, name: str, value: object, kind: type) -> None:
    """Nested settings must be the settings class itself: a dict or None would fail later, far away."""
    if not isinstance(value, kind):
        raise ConfigError(f"{owner}{name} must be a {kind.__name__}, got {value!r}")


C = TypeVar("C", bound=type)


def old_keywords(names: tuple[str, ...], fold: Callable[[dict[str, Any], dict[str, Any]], None],
                 message: Callable[[str], str]) -> Callable[[C], C]:
    """Let a dataclass's constructor take keywords that are no longer fields.

    ``fold(kwargs, old)`` gets the remaining keywords and the old ones and either moves the
    old values into their new place in ``kwargs`` or raises. Reading an old name as an
    attribute raises ``AttributeError(message(name))`` (see :class:`Moved`). Wrapping the
    generated ``__init__`` (rather than ``InitVar`` fields) keeps :func:`dataclasses.replace`
    and ``fields()`` seeing only the real fields.
    """
    def decorate(cls: C) -> C:
        generated = cls.__init__  # type: ignore[misc]  # the class's own, read once at definition

        @functools.wraps(generated)
        def __init__(self: object, *args: Any, **kwargs: Any) -> None:
            old = {name: kwargs.pop(name) for name in names if name in kwargs}
            if old:
                fold(kwargs, old)
            generated(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]  # a class's constructor, replaced once at definition
        for name in names:
            setattr(cls, name, Moved(message(name)))
        return cls
    return decorate


class Moved:
    """Stands where an attribute used to be, and says where it went.

    Old keyword names are still taken by the constructors (library code keeps working),
    but reading an old attribute raises, so no code path can read a value from two places.
    """

    def __init__(self, message: str) -> None:
        self.message = message

    def __get__(self, obj: object, owner: type | None = None) -> object:
        raise AttributeError(self.message)
