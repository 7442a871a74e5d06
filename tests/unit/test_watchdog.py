"""The connection watchdog's verdict, on numbers: no sockets, no sleeping."""
from __future__ import annotations

from typing import Any

from s3fast._config import Timeouts
from s3fast.net._watchdog import CARRY_ON, HELD, NEW_WINDOW, check_period, verdict

T = Timeouts(connect=5, first_byte=30, idle=20, low_speed_bytes_per_s=1000, low_speed_seconds=10)


def at(now: float, stage: str, **kw: Any) -> Any:
    args: dict[str, Any] = dict(receiving=True, stage_start=0.0, last_io=0.0, window_start=0.0,
                                window_bytes=0, rx_bytes=0, ip="192.0.2.1")
    args.update(kw)
    return verdict(T, now, stage, **args)


def test_first_byte_fires_only_after_its_bound_and_ignores_idle() -> None:
    assert at(29.9, "first-byte") is CARRY_ON  # idle (20 s) passed long ago: not checked here
    v = at(30.1, "first-byte")
    assert v.timeout == "first-byte" and v.message == "no response from 192.0.2.1 within 30 s"


def test_idle_counts_from_the_last_send_or_receive() -> None:
    assert at(25.0, "send", last_io=5.5) is CARRY_ON
    v = at(25.6, "send", last_io=5.5)
    assert v.timeout == "idle" and v.message == "no data from 192.0.2.1 for 20 s"
    assert at(40.0, "body", last_io=20.5, window_start=39.0).timeout is None
    assert at(40.0, "body", last_io=19.5, window_start=39.0).timeout == "idle"


def test_low_speed_is_judged_over_a_whole_window() -> None:
    # 10 s window at 999 B/s: too slow, but only once the window is complete
    assert at(9.9, "body", last_io=9.9, rx_bytes=9_890) is CARRY_ON
    v = at(10.0, "body", last_io=10.0, rx_bytes=9_990)
    assert v.timeout == "low-speed" and "sent 999 B/s over 10.0 s (below 1000 B/s)" in v.message


def test_fast_enough_window_starts_a_new_one() -> None:
    assert at(10.0, "body", last_io=10.0, rx_bytes=10_000) is NEW_WINDOW
    # what counts is the window's bytes, not the response's
    assert at(30.0, "body", last_io=30.0, window_start=20.0, window_bytes=1_000_000,
              rx_bytes=1_000_500).timeout == "low-speed"


def test_held_body_is_not_the_servers_fault() -> None:
    assert at(15.0, "body", receiving=False, last_io=0.0, rx_bytes=0) is HELD
    assert HELD.held and HELD.new_window


def test_no_speed_rule_while_sending() -> None:
    assert at(15.0, "send", last_io=14.0, rx_bytes=0) is CARRY_ON


def test_period_is_a_quarter_of_the_shortest_bound() -> None:
    assert check_period(T) == 2.5
    assert check_period(Timeouts(first_byte=0.001, idle=0.001, low_speed_seconds=0.001)) == 0.01
