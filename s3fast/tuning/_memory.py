"""How many requests fit in a memory budget.

The engine holds one buffer per in-flight part request (a ranged GET lands in its part buffer, an
UploadPart sends from one), so the memory bound is a concurrency bound::

    in-flight memory = concurrency x part_size x buffers_per_request  <=  memory_limit_bytes

``buffers_per_request`` is 1 when each request owns exactly its part buffer; an engine that keeps a
second buffer per request (e.g. a completed part waiting for an ordered writer) passes 2. The
controller never raises concurrency above this number, so the limit holds however the tuner behaves.
"""
from __future__ import annotations

__all__ = ["memory_cap_concurrency"]


def memory_cap_concurrency(
    memory_limit_bytes: int, part_size: int, *, buffers_per_request: int = 1
) -> int:
    """Return how many part requests may be in flight within ``memory_limit_bytes``.

    ``floor(memory_limit_bytes / (part_size * buffers_per_request))``.

    Raises ``ValueError`` when not even one request fits: rounding that up to 1 would silently break
    a limit the user called hard, so the caller must pick a smaller part size (or a bigger limit).
    """
    if part_size <= 0:
        raise ValueError(f"part_size must be positive, got {part_size}")
    if buffers_per_request <= 0:
        raise ValueError(f"buffers_per_request must be positive, got {buffers_per_request}")
    if memory_limit_bytes <= 0:
        raise ValueError(f"memory_limit_bytes must be positive, got {memory_limit_bytes}")
    per_request = part_size * buffers_per_request
    cap = memory_limit_bytes // per_request
    if cap < 1:
        raise ValueError(
            f"memory limit of {memory_limit_bytes} bytes cannot hold one request of "
            f"{per_request} bytes (part_size={part_size} x {buffers_per_request} buffer(s)); "
            "lower the part size or raise the limit"
        )
    return cap
