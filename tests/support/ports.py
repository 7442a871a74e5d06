"""Pick one TCP port that is free on several loopback addresses at once.

Several listeners share a port so a single fake hostname (``s3.test:PORT``) can map to all
of their addresses. There is a race between probing and the real bind; callers retry
through :func:`start_on_common_port`.
"""
from __future__ import annotations

import socket
from typing import Callable, Sequence, TypeVar

_T = TypeVar("_T")


def find_common_free_port(ips: Sequence[str], attempts: int = 50) -> int:
    """A port no socket is bound to on any of ``ips`` right now."""
    for _ in range(attempts):
        probes: list[socket.socket] = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probes.append(first)
            first.bind((ips[0], 0))
            port = int(first.getsockname()[1])
            for ip in ips[1:]:
                probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                probes.append(probe)
                probe.bind((ip, port))
            return port
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no common free port on {list(ips)} after {attempts} attempts")


def start_on_common_port(ips: Sequence[str], start: Callable[[int], _T],
                         attempts: int = 10) -> tuple[int, _T]:
    """Call ``start(port)`` (which must bind every ip, or raise OSError after cleaning up
    what it started) on a common free port, retrying on a lost race."""
    last: OSError | None = None
    for _ in range(attempts):
        port = find_common_free_port(ips)
        try:
            return port, start(port)
        except OSError as exc:
            last = exc
    raise RuntimeError(f"could not bind {list(ips)} on a common port") from last
