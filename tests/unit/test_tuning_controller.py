"""The pure controller, driven window by window against simulated links (no clock, no sleep)."""
from __future__ import annotations

import dataclasses
import random

import pytest

from s3fast.tuning import (
    Controller,
    Decision,
    Goal,
    Sample,
    SimulatedLink,
    TunerConfig,
    simulate_controller,
)

#: The pure model's start (ceil(target / per-connection)), without the default cap of 8 at start.
MODEL = TunerConfig(max_initial_concurrency=None)

GBPS = 1e9 / 8  # bytes/s per Gbps
W = 0.25


def busy(n: float, rate_bps: float, t0: float = 0.0, **kw: int) -> Sample:
    """A window of W seconds with ``n`` requests in flight moving ``rate_bps``."""
    return Sample(t0=t0, t1=t0 + W, bytes=int(rate_bps * W), in_flight=n, **kw)


def steady(controller: Controller, link: SimulatedLink, windows: int) -> list[int]:
    return [p.concurrency for p in simulate_controller(controller, link, windows)]


# -- configuration and the starting model -------------------------------------------------------


def test_config_defaults_match_the_documented_model() -> None:
    cfg = TunerConfig()
    assert cfg.initial_per_connection_gbps == 0.4
    assert cfg.max_initial_concurrency == 8
    assert (cfg.min_concurrency, cfg.concurrency_ceiling) == (1, 256)
    assert cfg.window_seconds == 0.25
    assert cfg.backoff_factor == 0.7
    goal = Goal()
    assert (goal.target_gbps, goal.max_gbps) == (10.0, None)
    assert goal.target_bps == 10 * GBPS
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.window_seconds = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_concurrency": 0},
        {"min_concurrency": 10, "concurrency_ceiling": 5},
        {"max_initial_concurrency": 0},
        {"initial_concurrency": 0},
        {"backoff_factor": 1.0},
        {"ramp_factor": 1.0},
        {"measure_windows": 3, "max_measure_windows": 2},
        {"ema_alpha": 0.0},
    ],
)
def test_config_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TunerConfig(**kwargs)  # type: ignore[arg-type]


def test_initial_concurrency_is_target_over_per_connection_model() -> None:
    assert Controller(MODEL).initial_concurrency() == 25  # 10 / 0.4, as the CRT
    assert Controller(MODEL, goal=Goal(target_gbps=100)).initial_concurrency() == 250
    assert Controller(MODEL, goal=Goal(target_gbps=10.1)).initial_concurrency() == 26  # ceil


def test_initial_concurrency_is_clamped_by_memory_cap_max_and_cap_rate() -> None:
    assert Controller(MODEL, memory_cap_concurrency=8).initial_concurrency() == 8
    assert Controller(MODEL, goal=Goal(target_gbps=400)).initial_concurrency() == 256
    assert Controller(MODEL, goal=Goal(target_gbps=0.01)).initial_concurrency() == 1
    # A bandwidth cap below the target is what the model sizes for.
    assert Controller(MODEL, goal=Goal(max_gbps=2.0)).initial_concurrency() == 5
    # The memory cap is hard: it wins over min_concurrency.
    ctl = Controller(TunerConfig(max_initial_concurrency=None, min_concurrency=4), memory_cap_concurrency=2)
    assert ctl.initial_concurrency() == 2 == ctl.concurrency


def test_configured_initial_concurrency_replaces_the_model_within_the_bounds() -> None:
    # Many small objects (s3fast cp -r): start where the memory cap allows, not at the ramp's 8.
    assert Controller(TunerConfig(initial_concurrency=256), memory_cap_concurrency=32).initial_concurrency() == 32
    assert Controller(TunerConfig(initial_concurrency=50)).initial_concurrency() == 50
    assert Controller(TunerConfig(initial_concurrency=500)).initial_concurrency() == 256  # the ceiling
    assert Controller(TunerConfig()).initial_concurrency() == 8


# -- growth ---------------------------------------------------------------------------------------


def test_ramps_from_small_concurrency_to_the_target_and_holds() -> None:
    # Each request carries 0.5 Gbps, the link 100: about 20 requests make the 10 Gbps target.
    link = SimulatedLink.from_gbps(0.5, 100)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=5), goal=Goal(target_gbps=10))
    assert ctl.concurrency == 2
    history = simulate_controller(ctl, link, 80)
    levels = [p.concurrency for p in history]
    assert levels == sorted(levels), "ramp must only go up on a linear link"
    assert 20 <= ctl.concurrency <= 24  # enough for 10 Gbps, no whole ramp step beyond it
    assert ctl.reason == "target-reached"
    assert link.rate_bps(ctl.concurrency) >= 0.95 * 10 * GBPS
    first_at_target = next(i for i, p in enumerate(history) if p.reason == "target-reached")
    assert first_at_target < 30, "ramp is multiplicative: a handful of levels, not 20 steps"
    # Holding: nothing changes for the rest of the run.
    assert {p.concurrency for p in history[first_at_target:]} == {ctl.concurrency}


def test_stops_adding_on_a_saturated_link() -> None:
    # 1 Gbps per request, link full at 6 requests, target far above what the link can give.
    link = SimulatedLink.from_gbps(1, 6)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10), goal=Goal(target_gbps=40))
    levels = steady(ctl, link, 400)  # 100 simulated seconds, probes included
    assert max(levels) <= 9, "one ramp step past the knee at most, never towards max_concurrency"
    assert 6 <= ctl.concurrency <= 8
    assert ctl.reason in ("plateau", "hold", "probe", "trim")
    tail = levels[len(levels) // 2 :]
    assert sum(6 <= n <= 8 for n in tail) >= 0.9 * len(tail), "holds at the knee between probes"


def test_sheds_requests_beyond_the_knee_when_starting_too_high() -> None:
    # The CRT model starts at 25; the link is full at 6. Down-probes find the knee.
    link = SimulatedLink.from_gbps(1, 6)
    ctl = Controller(MODEL)
    assert ctl.concurrency == 25
    history = simulate_controller(ctl, link, 400)
    assert 6 <= ctl.concurrency <= 9
    assert max(p.concurrency for p in history) <= 38  # one ramp step (x1.5) above the start
    assert any(p.reason == "trim" for p in history)
    # Every step down kept the full 6 Gbps; the one that did not was undone.
    assert link.rate_bps(ctl.concurrency) == link.link_bps


def test_without_trim_it_keeps_its_best_level() -> None:
    link = SimulatedLink.from_gbps(1, 6)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, trim=False))
    levels = steady(ctl, link, 400)
    assert min(levels) == 25 and ctl.concurrency == 25


def test_backs_away_from_a_level_where_goodput_falls() -> None:
    # Past the knee every extra request costs 5 % (CPU thrash): the controller must not stay there.
    link = SimulatedLink.from_gbps(1, 6, overload_per_request=0.05)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10), goal=Goal(target_gbps=40))
    steady(ctl, link, 200)
    assert 6 <= ctl.concurrency <= 7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_does_not_walk_it_far_past_the_knee(seed: int) -> None:
    # 10 % noise per window: a naive hill climber accepts lucky windows and drifts upwards.
    link = SimulatedLink.from_gbps(0.3, 8, noise=0.10, seed=seed)  # knee at ~27 requests
    ctl = Controller(MODEL)
    levels = steady(ctl, link, 800)  # 200 simulated seconds
    tail = levels[200:]
    assert max(levels) <= 60
    assert sum(levels) / len(levels) <= 36
    assert sum(20 <= n <= 45 for n in tail) >= 0.9 * len(tail)
    # ...without starving the link to get there.
    goodput = sum(link.rate_bps(n) for n in levels) / len(levels)
    assert goodput >= 0.93 * link.link_bps
    assert ctl.noise == pytest.approx(0.10, rel=0.5)  # learnt from the windows


def test_follows_a_link_that_gets_faster_then_slower() -> None:
    link = SimulatedLink.from_gbps(1, 6)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10), goal=Goal(target_gbps=40))
    history = simulate_controller(
        ctl, link, 700, events={100: {"link_bps": 12 * GBPS}, 300: {"link_bps": 3 * GBPS}}
    )
    assert 6 <= history[99].concurrency <= 8
    assert 12 <= history[299].concurrency <= 15  # periodic probes found the new capacity
    assert 3 <= history[-1].concurrency <= 4  # and trims shed what the slower link cannot use


def test_failed_trims_at_a_stable_knee_get_rarer() -> None:
    link = SimulatedLink.from_gbps(1, 6)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10), goal=Goal(target_gbps=40))
    history = simulate_controller(ctl, link, 1600)  # 400 simulated seconds
    trims = [i for i, (a, b) in enumerate(zip(history, history[1:]))
             if b.reason == "trim" and b.concurrency < a.concurrency]
    gaps = [b - a for a, b in zip(trims, trims[1:])]
    assert gaps == sorted(gaps)
    assert gaps[-1] >= 8 * 16  # spaced out to the maximum back-off (16 windows x 8)
    assert len(trims) <= 12  # instead of one every other probe (~50)


def test_one_noisy_window_does_not_flip_a_hold() -> None:
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=10), goal=Goal(target_gbps=40))
    link = SimulatedLink.from_gbps(1, 6)
    simulate_controller(ctl, link, 12)
    assert ctl.phase == "hold"
    held = ctl.concurrency
    # A single window at 5x the usual rate, then back to normal.
    decision = ctl.step(busy(held, 30 * GBPS))
    assert decision.concurrency == held and ctl.phase == "hold"
    steady(ctl, link, 3)
    assert ctl.concurrency == held


def test_memory_cap_is_never_exceeded() -> None:
    link = SimulatedLink.from_gbps(0.4, 1000)  # wants 25 requests for the target
    ctl = Controller(MODEL, goal=Goal(target_gbps=10), memory_cap_concurrency=7)
    history = simulate_controller(ctl, link, 200)
    assert max(p.concurrency for p in history) == 7
    at_cap = [p.reason for p in history if p.concurrency == 7]
    assert at_cap.count("memory-cap") >= 0.8 * len(at_cap)


def test_memory_cap_holds_under_arbitrary_samples() -> None:
    rng = random.Random(42)
    for cap in (1, 3, 17):
        ctl = Controller(TunerConfig(max_initial_concurrency=None, min_concurrency=5), memory_cap_concurrency=cap)
        for i in range(2000):
            n = ctl.concurrency
            sample = Sample(
                t0=i * W,
                t1=(i + 1) * W,
                bytes=rng.randrange(0, 10**9),
                in_flight=rng.choice([0.0, n * 0.5, float(n), n * 1.5]),
                throttled=rng.choice([0, 0, 0, 0, 1]),
                timeouts=rng.choice([0] * 9 + [1]),
            )
            assert 1 <= ctl.step(sample).concurrency <= cap


def test_max_concurrency_stops_growth() -> None:
    link = SimulatedLink.from_gbps(0.1, 1000)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, concurrency_ceiling=40), goal=Goal(target_gbps=10))
    history = simulate_controller(ctl, link, 100)
    assert max(p.concurrency for p in history) == 40
    at_cap = [p.reason for p in history if p.concurrency == 40]
    assert at_cap.count("max-concurrency") >= 0.8 * len(at_cap)


def test_lowering_the_memory_cap_applies_at_once() -> None:
    ctl = Controller(MODEL)
    assert ctl.concurrency == 25
    decision = ctl.set_memory_cap_concurrency(10)
    assert decision == Decision(10, "memory-cap", 0.0)
    assert ctl.concurrency == 10
    with pytest.raises(ValueError):
        ctl.set_memory_cap_concurrency(0)


# -- congestion -----------------------------------------------------------------------------------


def test_throttling_cuts_concurrency_multiplicatively() -> None:
    ctl = Controller(MODEL)
    assert ctl.concurrency == 25
    decision = ctl.step(busy(25, 5 * GBPS, throttled=3))
    assert decision.concurrency == 17  # floor(25 x 0.7)
    assert decision.reason == "throttled" == ctl.reason
    # The next window's 503s answer requests sent before the cut: not punished twice.
    assert ctl.step(busy(25, 5 * GBPS, t0=W, throttled=2)).concurrency == 17
    # Throttling that persists keeps cutting.
    assert ctl.step(busy(17, 5 * GBPS, t0=2 * W, throttled=1)).concurrency == 11
    assert ctl.step(busy(11, 5 * GBPS, t0=3 * W)).concurrency == 11


def test_sustained_throttling_goes_down_to_the_floor_and_stays_there() -> None:
    ctl = Controller(TunerConfig(max_initial_concurrency=None, min_concurrency=2))
    levels = [ctl.step(busy(ctl.concurrency, GBPS, t0=i * W, throttled=1)).concurrency
              for i in range(40)]
    assert levels[-1] == 2
    assert all(b <= a for a, b in zip(levels, levels[1:]))


def test_throttling_server_keeps_concurrency_below_its_limit_and_probes_rarely() -> None:
    link = SimulatedLink.from_gbps(0.4, 100, throttle_above=15)
    ctl = Controller(MODEL)
    history = simulate_controller(ctl, link, 400)  # 100 simulated seconds
    # Windows run above 15 requests are the ones that drew 503s.
    throttled_windows = sum(p.concurrency > 15 for p in history)
    assert throttled_windows <= 12, "probes into 503s are spaced out after repeated throttling"
    cuts = sum(a.concurrency > b.concurrency and b.reason == "throttled"
               for a, b in zip(history, history[1:]))
    assert 1 <= cuts <= 6


def test_timeouts_cut_concurrency_multiplicatively() -> None:
    ctl = Controller(MODEL, goal=Goal(target_gbps=20))
    assert ctl.concurrency == 50
    decision = ctl.step(busy(50, GBPS, timeouts=1))
    assert (decision.concurrency, decision.reason) == (35, "timeout")


def test_backoff_factor_is_configurable_and_always_removes_a_request() -> None:
    ctl = Controller(TunerConfig(max_initial_concurrency=None, backoff_factor=0.9), goal=Goal(target_gbps=4))
    assert ctl.concurrency == 10
    assert ctl.step(busy(10, GBPS, throttled=1)).concurrency == 9
    small = Controller(TunerConfig(max_initial_concurrency=None, backoff_factor=0.9), goal=Goal(target_gbps=0.8))
    assert small.concurrency == 2
    assert small.step(busy(2, GBPS, throttled=1)).concurrency == 1  # floor(1.8) = 1


def test_recovers_after_throttling_stops() -> None:
    link = SimulatedLink.from_gbps(0.5, 100, throttle_above=10)
    ctl = Controller(MODEL, goal=Goal(target_gbps=10))
    simulate_controller(ctl, link, 40)
    assert ctl.concurrency <= 10
    link.throttle_above = None  # S3 finished scaling the prefix
    simulate_controller(ctl, link, 800)
    assert ctl.concurrency >= 19 and ctl.reason == "target-reached"


# -- target and cap -------------------------------------------------------------------------------


def test_holds_once_the_target_is_reached_even_if_more_would_flow() -> None:
    link = SimulatedLink.from_gbps(1, 1000)
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=1), goal=Goal(target_gbps=10))
    levels = steady(ctl, link, 200)
    assert set(levels) == {10}
    assert ctl.reason == "target-reached"


def test_bandwidth_cap_holds_when_paced_by_the_token_bucket() -> None:
    # The token bucket keeps the rate at the cap: more requests add nothing.
    link = SimulatedLink.from_gbps(1, 2)  # what a 2 Gbps token bucket looks like
    ctl = Controller(MODEL, goal=Goal(target_gbps=10, max_gbps=2))
    assert ctl.concurrency == 5
    levels = steady(ctl, link, 200)
    assert max(levels) == 5
    assert ctl.reason == "rate-cap"


def test_bandwidth_cap_sheds_requests_when_nobody_paces() -> None:
    link = SimulatedLink.from_gbps(1, 100)  # nothing limits the rate but the request count
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=0.2), goal=Goal(target_gbps=10, max_gbps=2))
    assert ctl.concurrency == 10
    history = simulate_controller(ctl, link, 100)
    assert history[-1].concurrency == 2 and ctl.reason == "rate-cap"
    assert "rate-cap" in {p.reason for p in history[:4]}


# -- windows that carry no information -------------------------------------------------------------


def test_demand_limited_windows_do_not_grow_concurrency() -> None:
    ctl = Controller(TunerConfig(max_initial_concurrency=None, initial_per_connection_gbps=5), goal=Goal(target_gbps=10))
    assert ctl.concurrency == 2
    for i in range(50):
        # Only one request in flight out of two allowed: the engine has no more work.
        decision = ctl.step(busy(1, 0.5 * GBPS, t0=i * W))
        assert decision.concurrency == 2
    assert decision.reason == "demand-limited"
    assert ctl.step(Sample(t0=50 * W, t1=51 * W, bytes=0, in_flight=0)).reason == "idle"


def test_zero_length_window_changes_nothing() -> None:
    ctl = Controller(MODEL)
    sample = Sample(t0=1.0, t1=1.0, bytes=10**9, in_flight=25, throttled=9)
    assert ctl.step(sample).concurrency == 25


def test_repr_shows_state() -> None:
    ctl = Controller(MODEL, memory_cap_concurrency=64)
    text = repr(ctl)
    for part in ("concurrency=25", "phase=ramp", "reason=initial", "target=10Gbps",
                 "memory_cap=64", "windows=0"):
        assert part in text
    ctl.step(busy(25, GBPS, throttled=1))
    assert "reason=throttled" in repr(ctl) and "concurrency=17" in repr(ctl)


def test_decision_reports_smoothed_rate() -> None:
    ctl = Controller(MODEL)
    d1 = ctl.step(busy(25, 4 * GBPS))
    d2 = ctl.step(busy(25, 8 * GBPS, t0=W))
    assert d1.gbps == pytest.approx(4.0)
    assert 4.0 < d2.gbps < 8.0  # moving average, not the last window
    assert ctl.rate_bps == d2.rate_bps
