"""The timeout verdict of a busy connection: pure, given the time and what moved when.

A connection runs one periodic check while a request is in flight (not a timer per read)
and acts on its verdict. Stages: ``send`` (request going out), ``first-byte`` (sent,
waiting for the head), ``body`` (head in, body flowing or held by the reader).

- first byte: no head within ``first_byte`` seconds of the request being sent;
- idle: nothing moved either way for ``idle`` seconds (not while awaiting the first
  byte, which has its own, longer bound);
- low speed: while the body is being received, under ``low_speed_bytes_per_s`` over a
  window of ``low_speed_seconds`` (then a new window starts);
- a body the reader holds (reading paused: a slow disk, a slow consumer) is not the
  server's fault: its clocks restart instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from .._config import Timeouts


@dataclass(frozen=True, slots=True)
class Verdict:
    #: "first-byte", "idle" or "low-speed" when a timeout fired, else None
    timeout: str | None = None
    message: str = ""
    #: start a new low-speed window now
    new_window: bool = False
    #: the body is held by the reader: count now as the last receive
    held: bool = False


CARRY_ON = Verdict()
NEW_WINDOW = Verdict(new_window=True)
HELD = Verdict(new_window=True, held=True)


def check_period(t: Timeouts) -> float:
    """How often a busy connection is checked: often enough that a timeout fires within
    a quarter of the shortest one past its due time."""
    return max(0.01, min(t.idle, t.first_byte, t.low_speed_seconds) / 4)


def verdict(t: Timeouts, now: float, stage: str, *, receiving: bool, stage_start: float,
            last_io: float, window_start: float, window_bytes: int, rx_bytes: int, ip: str) -> Verdict:
    """What a check at ``now`` concludes. ``receiving``: the body is being read (not
    held); ``last_io``: the last send or receive; the low-speed window started at
    ``window_start`` with ``window_bytes`` of ``rx_bytes`` received then."""
    if stage == "first-byte":
        if now - stage_start > t.first_byte:
            return Verdict("first-byte", f"no response from {ip} within {t.first_byte:g} s")
        return CARRY_ON
    if now - last_io > t.idle:
        return Verdict("idle", f"no data from {ip} for {t.idle:g} s")
    if stage != "body":
        return CARRY_ON
    if not receiving:
        return HELD
    window = now - window_start
    if window < t.low_speed_seconds:
        return CARRY_ON
    rate = (rx_bytes - window_bytes) / window
    if rate < t.low_speed_bytes_per_s:
        return Verdict("low-speed", f"{ip} sent {rate:.0f} B/s over {window:.1f} s "
                                    f"(below {t.low_speed_bytes_per_s} B/s)")
    return NEW_WINDOW
