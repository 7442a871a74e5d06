"""ThroughputMeter windows on a fake clock."""
from __future__ import annotations

import pytest

from s3fast.tuning import Sample, ThroughputMeter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sample_counts_one_window_and_resets() -> None:
    clock = Clock()
    meter = ThroughputMeter(clock)
    meter.add_bytes(1000)
    meter.add_bytes(500)
    meter.request_done(0.2, ttfb_s=0.05)
    meter.request_done(0.4)
    meter.throttled()
    meter.timeout()
    meter.error()
    meter.error()
    clock.now = 100.5
    s = meter.take_sample()
    assert s == Sample(
        t0=100.0, t1=100.5, bytes=1500, requests_completed=2, in_flight=0.0, peak_in_flight=0,
        throttled=1, timeouts=1, errors=2, mean_latency_s=(0.2 + 0.4) / 2, mean_ttfb_s=0.05,
    )
    assert s.duration == 0.5 and s.rate_bps == 3000.0
    clock.now = 101.0
    s2 = meter.take_sample()
    assert (s2.t0, s2.t1, s2.bytes, s2.requests_completed, s2.throttled, s2.errors) == (
        100.5, 101.0, 0, 0, 0, 0)
    assert s2.mean_latency_s is None and s2.mean_ttfb_s is None
    assert meter.total_bytes == 1500


def test_in_flight_is_time_weighted_over_the_window() -> None:
    clock = Clock()
    meter = ThroughputMeter(clock)
    meter.set_in_flight(4)  # 4 for the first half...
    clock.now = 100.5
    meter.set_in_flight(8)  # ...8 for the second
    meter.set_in_flight(6)  # (instantaneous blips only count for their duration: zero)
    meter.set_in_flight(8)
    clock.now = 101.0
    s = meter.take_sample()
    assert s.in_flight == pytest.approx(6.0)
    assert s.peak_in_flight == 8
    # The level carries into the next window.
    clock.now = 101.25
    s = meter.take_sample()
    assert s.in_flight == pytest.approx(8.0) and s.peak_in_flight == 8


def test_rolling_rate_covers_the_display_span() -> None:
    clock = Clock()
    meter = ThroughputMeter(clock, display_span_s=1.0)
    for _ in range(8):  # 8 windows of 0.25 s at 1000 B/s, then 4000 B/s
        meter.add_bytes(250)
        clock.now += 0.25
        meter.take_sample()
    assert meter.rate_bps() == pytest.approx(1000.0)
    for _ in range(4):
        meter.add_bytes(1000)
        clock.now += 0.25
        meter.take_sample()
    assert meter.rate_bps() == pytest.approx(4000.0)  # old windows fell out of the span
    meter.add_bytes(500)  # the open window counts too
    clock.now += 0.125
    # Closed windows ending within the last second (4 x 1000 B from t-1.125) plus the open one.
    assert meter.rate_bps() == pytest.approx((4 * 1000 + 500) / 1.125)
    assert meter.total_bytes == 8 * 250 + 4 * 1000 + 500


def test_in_flight_bytes_and_repr() -> None:
    clock = Clock()
    meter = ThroughputMeter(clock)
    assert meter.in_flight_bytes is None
    meter.set_in_flight_bytes(8 << 20)
    meter.set_in_flight(3)
    meter.add_bytes(10)
    assert meter.in_flight_bytes == 8 << 20
    text = repr(meter)
    assert "in_flight=3" in text and "bytes=10" in text
    with pytest.raises(ValueError):
        ThroughputMeter(clock, display_span_s=0)


def test_a_source_counts_bytes_as_they_move_not_as_they_are_reported() -> None:
    clock = Clock()
    meter = ThroughputMeter(clock)
    moved = [5000]  # bytes moved before the source was attached do not count
    meter.set_source(lambda: moved[0])
    moved[0] += 300
    meter.add_bytes(1 << 20)  # a whole slice reported at once: ignored while a source is set
    assert meter.total_bytes == 300
    clock.now = 100.25
    moved[0] += 200
    s = meter.take_sample()
    assert s.bytes == 500 and s.rate_bps == 2000.0
    clock.now = 100.5
    moved[0] += 1000
    assert meter.rate_bps() == pytest.approx(1500 / 0.5)
    s = meter.take_sample()
    assert s.bytes == 1000 and meter.total_bytes == 1500
    # Detached: back to what add_bytes is told.
    meter.set_source(None)
    meter.add_bytes(7)
    clock.now = 100.75
    assert meter.take_sample().bytes == 7
