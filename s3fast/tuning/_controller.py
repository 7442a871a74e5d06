"""The concurrency controller: a pure step function from measurements to a concurrency limit.

Rates named ``*_bps`` in this package are **bytes** per second; ``*_gbps`` are gigabits per second
(``gbps = bps * 8 / 1e9``), the unit users and the CRT speak in.

How it decides (one call to :meth:`Controller.step` per measurement window)::

    congestion (503 SlowDown / timeouts) -> multiplicative decrease (x backoff_factor), then one
                                            cooldown window so one burst is not punished twice;
                                            growth stops just below the level that drew it
    idle / demand-limited window         -> hold: it says nothing about the link
    new level settling                   -> skip ``settle_windows`` (connection set-up, TCP ramp)
    level measured (``measure_windows``) -> compare with the previous level:
        ramp / probe-up:   keep growing while each added request adds goodput; when the marginal
                           request adds less than ``plateau_gain`` of what an average request
                           carries, go back to the better level and hold ("plateau")
        probe-down (trim): keep shedding requests while that costs no goodput; go back when it does
        too close to call: measure more windows (up to ``max_measure_windows``), then choose fewer
        rate >= target or >= max_gbps -> hold ("target-reached" / "rate-cap")
    holding                              -> after ``probe_interval_windows`` busy windows below
                                            the target, probe up or down (alternately), because
                                            the link and the server change under us

Growth is multiplicative during the initial ramp (``ramp_factor``, fast while far from the target)
and proportional afterwards (``probe_fraction`` per probe), and never far beyond what a linear
model says the target needs, so a fast link does not overshoot by a whole ramp step. Every decision
is clamped to ``[min_concurrency, min(max_concurrency, memory cap)]``: the memory cap is never
exceeded. Probes that keep failing get rarer: up-probes after each congestion back-off, down-probes
after each trim that had to be undone (both up to 8x ``probe_interval_windows``).

Noise. A level's rate is the mean of its windows (a plain mean at first, then an exponential moving
average with ``ema_alpha``, so a long-held level still follows a changing link): one noisy window
cannot flip a decision. The controller also learns how noisy windows are (their spread around their
level's mean) and calls extra requests worthwhile, or worthless, only when the difference stands out
of that noise by ``significance`` standard errors; otherwise it keeps measuring, and after
``max_measure_windows`` it settles for fewer requests. Without this, 10 % window noise walks a
hill-climber far past the knee of a saturated link, one lucky window at a time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..config._tuner import GBPS_TO_BPS as _GBPS_TO_BPS
from ..config._tuner import TunerConfig
from ._goal import Goal
from ._sample import Sample

__all__ = ["Controller", "Decision", "Phase", "Reason"]

Reason = Literal[
    "initial",  # nothing measured yet
    "ramp",  # growing multiplicatively from the model's starting point
    "probe",  # a periodic upward probe (or a continued climb after one succeeded)
    "trim",  # shedding requests that carry no extra goodput
    "plateau",  # the marginal request added nothing: holding at the best level
    "hold",  # holding below the target, waiting for the next probe
    "target-reached",  # measured rate reached target_gbps
    "rate-cap",  # measured rate reached (or exceeded) max_gbps
    "throttled",  # 503 SlowDown: multiplicative decrease
    "timeout",  # request timeouts: multiplicative decrease
    "memory-cap",  # growth stopped by the memory cap
    "max-concurrency",  # growth stopped by max_concurrency
    "demand-limited",  # fewer requests in flight than allowed: nothing to learn
    "idle",  # nothing in flight, nothing received
]
Phase = Literal["ramp", "hold", "probe-up", "probe-down"]

# Weight of one observation in the window-noise estimate: slow enough to ride out a lucky window,
# fast enough to notice within a few seconds that the link got noisier.
_NOISE_ALPHA = 0.2
_MAX_PROBE_BACKOFF = 8


@dataclass(frozen=True)
class Decision:
    """What to do after a window: the new concurrency limit and why.

    ``rate_bps`` is the controller's smoothed goodput (bytes/s) over all windows, for display.
    """

    concurrency: int
    reason: Reason
    rate_bps: float = 0.0

    @property
    def gbps(self) -> float:
        return self.rate_bps / _GBPS_TO_BPS


class _Level:
    """The goodput measured at one concurrency level (mutable, private to the controller).

    ``rate`` is a weighted mean of the level's windows; ``sumsq`` the sum of the squared weights,
    so that the variance of ``rate`` is ``sumsq`` times the variance of one window.
    """

    __slots__ = ("n", "rate", "sumsq", "measured", "skip")

    def __init__(self, n: int, skip: int) -> None:
        self.n = n
        self.rate: float | None = None
        self.sumsq = 1.0
        self.measured = 0
        self.skip = skip

    def add(self, rate: float, alpha: float) -> None:
        self.measured += 1
        if self.rate is None:
            self.rate = rate
            self.sumsq = 1.0
            return
        a = max(1.0 / self.measured, alpha)  # plain mean first, then a moving average
        self.rate = a * rate + (1 - a) * self.rate
        self.sumsq = a * a + (1 - a) * (1 - a) * self.sumsq

    def __repr__(self) -> str:
        if self.rate is None:
            return f"{self.n}@?"
        return f"{self.n}@{self.rate / _GBPS_TO_BPS:.3g}Gbps"


class Controller:
    """Pure concurrency controller: feed it one :class:`Sample` per window, apply the Decision.

    ``memory_cap_concurrency`` is the number of requests whose buffers fit in the memory limit
    (see :func:`memory_cap_concurrency`); None means only ``max_concurrency`` bounds growth.
    No clock, no I/O: the same samples always give the same decisions.
    """

    def __init__(
        self, config: TunerConfig | None = None, memory_cap_concurrency: int | None = None,
        *, goal: Goal | None = None,
    ) -> None:
        self._cfg = config if config is not None else TunerConfig()
        self._goal = goal if goal is not None else Goal()
        if memory_cap_concurrency is not None and memory_cap_concurrency < 1:
            raise ValueError("memory_cap_concurrency must be >= 1 or None")
        self._mem_cap = memory_cap_concurrency
        self._n = self.initial_concurrency()
        self._phase: Phase = "ramp"
        self._cur = _Level(self._n, self._cfg.settle_windows)
        self._base: _Level | None = None  # the level the current one is compared with
        self._hold_reason: Reason = "hold"
        self._reason: Reason = "initial"
        self._cooldown = 0
        self._stable = 0  # busy windows spent holding below the target since the last change
        self._next_probe: Literal["up", "down"] = "up"
        # Probe spacing multiplier: doubled by each congestion back-off (up to
        # _MAX_PROBE_BACKOFF), reset by a probe that found more goodput. Re-probing a server that
        # keeps answering 503 at the same level every few seconds only buys retries.
        self._probe_backoff = 1
        # Down-probe spacing multiplier: doubled by each trim that had to be undone, reset by any
        # accepted step. A failed trim costs goodput while it is measured, and at a stable knee
        # every trim fails, so they are spaced out until something changes.
        self._trim_backoff = 1
        self._last_trim_window: int | None = None
        # The concurrency at the last congestion cut (CUBIC's w_max): growth stops just below it
        # until a probe has passed it without congestion.
        self._ceiling: int | None = None
        self._rate_ema: float | None = None
        self._noise2: float | None = None  # learnt relative variance of one window's rate
        self._windows = 0

    # -- read-only state -------------------------------------------------------------------

    @property
    def config(self) -> TunerConfig:
        return self._cfg

    @property
    def goal(self) -> Goal:
        return self._goal

    @property
    def concurrency(self) -> int:
        return self._n

    @property
    def reason(self) -> Reason:
        return self._reason

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def rate_bps(self) -> float:
        """Smoothed goodput over all windows, bytes/s (0 before the first window)."""
        return self._rate_ema if self._rate_ema is not None else 0.0

    @property
    def memory_cap_concurrency(self) -> int | None:
        return self._mem_cap

    @property
    def noise(self) -> float:
        """Learnt relative noise (standard deviation / mean) of one window's rate."""
        return math.sqrt(self._noise2) if self._noise2 is not None else 0.0

    @property
    def windows(self) -> int:
        """Number of samples stepped so far."""
        return self._windows

    def __repr__(self) -> str:
        return (
            f"<Controller [concurrency={self._n} phase={self._phase} reason={self._reason} "
            f"rate={self.rate_bps / _GBPS_TO_BPS:.3g}Gbps "
            f"target={self._goal.effective_target_gbps:g}Gbps level={self._cur!r} "
            f"base={self._base!r} stable={self._stable}/{self._probe_due()} "
            f"trim_backoff={self._trim_backoff} cooldown={self._cooldown} "
            f"ceiling={self._ceiling} noise={self.noise:.3f} memory_cap={self._mem_cap} "
            f"windows={self._windows}]>"
        )

    # -- public operations -----------------------------------------------------------------

    def initial_concurrency(self) -> int:
        """The starting model: ``ceil(effective target / initial_per_connection_gbps)``, or the
        configured ``initial_concurrency``; clamped."""
        cfg = self._cfg
        # The epsilon keeps 10 / 0.4 at 25 even if float rounding lands just above it.
        model = math.ceil(self._goal.effective_target_gbps / cfg.initial_per_connection_gbps - 1e-9)
        if cfg.max_initial_concurrency is not None:
            model = min(model, cfg.max_initial_concurrency)
        if cfg.initial_concurrency is not None:
            model = cfg.initial_concurrency  # the caller knows its work (many small objects)
        upper, _ = self._upper()
        return max(self._lower(), min(model, upper))

    def set_memory_cap_concurrency(self, cap: int | None) -> Decision:
        """Change the memory cap (e.g. a new part size); concurrency drops at once if above it."""
        if cap is not None and cap < 1:
            raise ValueError("memory cap must be >= 1 or None")
        self._mem_cap = cap
        upper, binding = self._upper()
        if self._base is not None and self._base.n > upper:
            # A probe's reference level no longer fits: abandon the probe.
            self._base = None
            self._phase = "hold"
        if self._n > upper:
            return self._shrink(upper, binding, cooldown=0)
        return self._decide(self._n, self._reason)

    def step(self, sample: Sample) -> Decision:
        """Account one window and return the concurrency to use for the next one."""
        cfg = self._cfg
        self._windows += 1
        duration = sample.duration
        if duration <= 0:
            return self._decide(self._n, self._reason)
        rate = sample.bytes / duration
        alpha = cfg.ema_alpha
        self._rate_ema = rate if self._rate_ema is None else (
            alpha * rate + (1 - alpha) * self._rate_ema
        )

        # Congestion first: it must win even over a window that looks idle.
        if self._cooldown > 0:
            self._cooldown -= 1
        elif sample.throttled > 0 or sample.timeouts > 0:
            self._probe_backoff = min(self._probe_backoff * 2, _MAX_PROBE_BACKOFF)
            self._ceiling = self._n
            return self._shrink(
                math.floor(self._n * cfg.backoff_factor),
                "throttled" if sample.throttled > 0 else "timeout",
                cooldown=cfg.backoff_cooldown_windows,
            )

        if sample.in_flight <= 0 and sample.bytes == 0:
            return self._decide(self._n, "idle")
        if sample.in_flight < self._n * cfg.busy_fraction:
            # The limit was not what bounded this window, so its rate says nothing about
            # whether more (or fewer) requests would help.
            return self._decide(self._n, "demand-limited")

        cur = self._cur
        if cur.skip > 0:
            cur.skip -= 1
            return self._decide(self._n, self._phase_reason())
        self._learn_noise(cur, rate)
        cur.add(rate, alpha)
        if cur.measured < cfg.measure_windows:
            return self._decide(self._n, self._phase_reason())
        return self._evaluate(cur)

    # -- decisions -------------------------------------------------------------------------

    def _evaluate(self, cur: _Level) -> Decision:
        cfg = self._cfg
        rate = cur.rate if cur.rate is not None else 0.0
        max_bps = self._goal.max_bps
        if max_bps is not None and rate > max_bps * (1 + cfg.target_tolerance):
            # Nobody paces with the token bucket: shed requests in proportion to the excess.
            return self._shrink(math.floor(self._n * max_bps / rate), "rate-cap", cooldown=0)

        phase = self._phase
        if phase == "hold":
            return self._hold_window(rate)

        base = self._base
        if base is not None:
            lo, hi = (cur, base) if phase == "probe-down" else (base, cur)
            verdict = self._verdict(lo=lo, hi=hi)
            if verdict == 0:
                if cur.measured < self._cfg.max_measure_windows:
                    return self._decide(self._n, self._phase_reason())  # measure on
                # Still within the noise: the extra requests have not proven their worth, so
                # choose fewer (an up-probe is undone, a trim kept). Deciding on the point
                # estimate instead turns every probe at the knee into a coin flip, and the
                # coin flips add up to a drift upwards.
                verdict = -1
            if phase == "probe-down":
                if verdict > 0:
                    self._trim_backoff = min(self._trim_backoff * 2, _MAX_PROBE_BACKOFF)
                    return self._revert(base, "plateau")  # the shed requests carried traffic
                self._trim_backoff = 1
                self._base = cur
                return self._step_down()
            if verdict < 0:
                return self._revert(base, "plateau")
            self._trim_backoff = 1
            if self._ceiling is not None and cur.n >= self._ceiling:
                self._ceiling = None  # passed the old congestion point unharmed
                self._probe_backoff = 1
        elif phase == "probe-down":  # defensive: a probe without a reference cannot be judged
            return self._hold("trim")
        reached = self._reached(rate)
        if reached is not None:
            return self._hold(reached)
        return self._step_up("ramp" if phase == "ramp" else "probe")

    def _hold_window(self, rate: float) -> Decision:
        reached = self._reached(rate)
        if reached is not None:
            self._stable = 0  # at the goal: no reason to probe
            self._hold_reason = reached
            return self._decide(self._n, reached)
        if self._hold_reason in ("target-reached", "rate-cap"):
            self._hold_reason = "hold"
        self._stable += 1
        if self._stable >= self._probe_due():
            return self._start_probe()
        return self._decide(self._n, self._hold_reason)

    def _start_probe(self) -> Decision:
        self._stable = 0
        upper, binding = self._upper()
        can_up = self._n < upper
        last = self._last_trim_window
        can_down = (
            self._cfg.trim
            and self._n > self._lower()
            and (last is None
                 or self._windows - last >= self._cfg.probe_interval_windows * self._trim_backoff)
        )
        direction = self._next_probe
        self._next_probe = "down" if direction == "up" else "up"
        if direction == "down" and not can_down:
            direction = "up"
        if direction == "up" and not can_up:
            direction = "down"
        if direction == "up" and can_up:
            self._phase = "probe-up"
            return self._step_up("probe")
        if direction == "down" and can_down:
            return self._step_down()
        return self._decide(self._n, binding if not can_up else self._hold_reason)

    def _step_up(self, reason: Reason) -> Decision:
        cfg = self._cfg
        n = self._n
        upper, binding = self._upper()
        if n >= upper:
            return self._hold(binding)
        probe_step = n + max(1, round(n * cfg.probe_fraction))
        grown = math.ceil(n * cfg.ramp_factor) if self._phase == "ramp" else probe_step
        rate = self._cur.rate
        if rate is not None and rate > 0:
            # If requests scale linearly this many reach the (effective) target; growing further
            # only overshoots, holding buffers nobody needs. But never step by less than a probe
            # step, or the gain would drown in the measurement noise.
            goal = self._goal.effective_target_gbps * _GBPS_TO_BPS * (1 + cfg.target_tolerance)
            needed = math.ceil(n * goal / rate)
            grown = min(grown, max(probe_step, needed))
        if self._ceiling is not None and n < self._ceiling - 1:
            grown = min(grown, self._ceiling - 1)
        new = min(grown, upper)
        self._base = self._cur
        self._cur = _Level(new, cfg.settle_windows)
        self._n = new
        if self._phase != "ramp":
            self._phase = "probe-up"
        return self._decide(new, reason)

    def _step_down(self) -> Decision:
        cfg = self._cfg
        n = self._n
        lower = self._lower()
        if n <= lower:
            return self._hold("trim")
        new = max(lower, min(n - 1, math.floor(n / (1 + cfg.probe_fraction))))
        self._last_trim_window = self._windows
        self._base = self._cur
        self._cur = _Level(new, cfg.settle_windows)
        self._n = new
        self._phase = "probe-down"
        return self._decide(new, "trim")

    def _shrink(self, want: int, reason: Reason, *, cooldown: int) -> Decision:
        """Go down to ``want`` (at least one request fewer, never below the floor) and hold."""
        upper, _ = self._upper()
        new = max(self._lower(), min(self._n - 1, want, upper))
        if new != self._n:
            self._n = new
            self._cur = _Level(new, self._cfg.settle_windows)
        self._base = None
        self._cooldown = cooldown
        self._next_probe = "up"
        return self._hold(reason)

    def _revert(self, base: _Level, reason: Reason) -> Decision:
        self._n = base.n
        base.skip = self._cfg.settle_windows  # it keeps its rate estimate, re-settles first
        self._cur = base
        upper, binding = self._upper()
        # Back at the ceiling after a failed trim: the ceiling is what holds us, say so.
        return self._hold(binding if base.n >= upper else reason)

    def _hold(self, reason: Reason) -> Decision:
        self._phase = "hold"
        self._base = None
        self._stable = 0
        self._hold_reason = reason
        return self._decide(self._n, reason)

    # -- helpers ---------------------------------------------------------------------------

    def _excess(self, *, lo: _Level, hi: _Level) -> float:
        """How much more the requests ``hi`` has beyond ``lo`` carry than the plateau threshold.

        Each extra request is worthwhile when its marginal goodput beats ``plateau_gain`` times
        the goodput of an average request at ``lo``; relative to ``lo``'s rate that reads
        ``rel_gain > plateau_gain x rel_step``. Returns ``rel_gain - plateau_gain x rel_step``.
        """
        lo_rate = lo.rate if lo.rate is not None else 0.0
        hi_rate = hi.rate if hi.rate is not None else 0.0
        rel_step = (hi.n - lo.n) / lo.n
        if lo_rate <= 0:
            # Nothing flowed at lo (requests stuck before their first byte): any flow is a gain.
            return 1.0 if hi_rate > 0 else -self._cfg.plateau_gain * rel_step
        return (hi_rate - lo_rate) / lo_rate - self._cfg.plateau_gain * rel_step

    def _verdict(self, *, lo: _Level, hi: _Level) -> int:
        """+1: the extra requests of ``hi`` clearly carry their weight; -1: clearly not;
        0: too close to call given the window noise."""
        excess = self._excess(lo=lo, hi=hi)
        noise2 = max(self._noise2 or 0.0, self._cfg.noise_floor ** 2)
        margin = self._cfg.significance * math.sqrt(noise2 * (lo.sumsq + hi.sumsq))
        if excess > margin:
            return 1
        if excess < -margin:
            return -1
        return 0

    def _learn_noise(self, level: _Level, rate: float) -> None:
        """Update the window-noise estimate from how far ``rate`` lies from its level's mean."""
        if level.rate is None or level.rate <= 0:
            return
        dev = (rate - level.rate) / level.rate
        # Var(window - mean of the earlier windows) = sigma^2 x (1 + sumsq).
        observed = dev * dev / (1.0 + level.sumsq)
        if self._noise2 is None:
            self._noise2 = observed
        else:
            self._noise2 += _NOISE_ALPHA * (observed - self._noise2)

    def _reached(self, rate: float) -> Reason | None:
        cfg = self._cfg
        keep = 1 - cfg.target_tolerance
        max_bps = self._goal.max_bps
        if max_bps is not None and rate >= max_bps * keep:
            return "rate-cap"
        if rate >= self._goal.target_bps * keep:
            return "target-reached"
        return None

    def _upper(self) -> tuple[int, Reason]:
        """The highest allowed concurrency and which limit sets it."""
        cfg = self._cfg
        if self._mem_cap is not None and self._mem_cap < cfg.concurrency_ceiling:
            return self._mem_cap, "memory-cap"
        return cfg.concurrency_ceiling, "max-concurrency"

    def _lower(self) -> int:
        # The memory cap is hard, so it beats min_concurrency when they conflict.
        return min(self._cfg.min_concurrency, self._upper()[0])

    def _probe_due(self) -> int:
        """Busy windows to hold before the next probe."""
        return self._cfg.probe_interval_windows * self._probe_backoff

    def _phase_reason(self) -> Reason:
        if self._phase == "ramp":
            return "ramp"
        if self._phase == "probe-up":
            return "probe"
        if self._phase == "probe-down":
            return "trim"
        return self._hold_reason

    def _decide(self, n: int, reason: Reason) -> Decision:
        self._reason = reason
        return Decision(n, reason, self.rate_bps)
