"""The throttle that paces snapshots and side views: intervals from start to start."""

from __future__ import annotations

import time

from maml_gui.runtime.throttle import MIN_INTERVAL_MS, Throttle


def _starts_while_requested(qtbot, cost_s: float, seconds: float) -> list[float]:
    """Request on every event-loop turn for ``seconds``; when each callback started."""
    starts: list[float] = []

    def callback():
        starts.append(time.perf_counter())
        time.sleep(cost_s)

    throttle = Throttle(callback)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        throttle.request()
        qtbot.wait(1)
    throttle.stop()
    return starts


def test_a_cheap_callback_runs_at_the_minimum_interval_from_start_to_start(qtbot):
    # a 10 ms callback: counted from its end the interval made it 25 a second, not 40
    starts = _starts_while_requested(qtbot, 0.010, 1.2)
    gaps = [1000 * (b - a) for a, b in zip(starts, starts[1:])]
    median = sorted(gaps)[len(gaps) // 2]
    assert 0.9 * MIN_INTERVAL_MS <= median < MIN_INTERVAL_MS + 12, gaps  # from the end: 35+


def test_an_expensive_callback_gets_at_most_half_of_the_time(qtbot):
    starts = _starts_while_requested(qtbot, 0.040, 1.5)
    gaps = [1000 * (b - a) for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 72, gaps  # twice the 40 ms cost (a coarse timer fires up to 5 % early)
    median = sorted(gaps)[len(gaps) // 2]
    assert median < 95, gaps  # from start to start: counted from the end it was 100


def test_a_request_runs_the_callback_on_the_next_turn_never_inside_it(qtbot):
    calls: list[float] = []
    throttle = Throttle(lambda: calls.append(time.perf_counter()))
    throttle.request()  # the interval since the last run (none) has long passed
    assert calls == [] and throttle.pending()
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=1000)
    throttle.request()
    throttle.request()  # coalesced with the one before
    assert len(calls) == 1
    qtbot.wait(int(3 * MIN_INTERVAL_MS))
    assert len(calls) == 2 and 1000 * (calls[1] - calls[0]) >= 0.9 * MIN_INTERVAL_MS
    throttle.stop()
