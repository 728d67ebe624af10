"""Backoff with full jitter, and the token bucket, on a fake clock."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from recompense.notify.pacing import TokenBucket, backoff_seconds


@given(
    attempt=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.01, max_value=100),
    cap=st.floats(min_value=100, max_value=10_000),
    seed=st.integers(0, 2**32),
)
def test_backoff_is_within_the_exponential_envelope(attempt, base, cap, seed):
    delay = backoff_seconds(attempt, base=base, cap=cap, rng=random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_backoff_grows_on_average_and_spreads_a_herd():
    rng = random.Random(7)
    means = [
        sum(backoff_seconds(a, base=1, cap=1000, rng=rng) for _ in range(2000)) / 2000
        for a in (1, 3, 5)
    ]
    assert means[0] < means[1] < means[2]
    assert abs(means[2] - 8) < 0.5  # full jitter: mean is half of base·2^(n-1) = 16
    herd = {round(backoff_seconds(4, base=1, cap=1000, rng=rng), 3) for _ in range(100)}
    assert len(herd) > 90


def test_retry_after_is_a_floor_still_capped():
    rng = random.Random(1)
    assert backoff_seconds(1, base=0.1, cap=60, retry_after=30, rng=rng) >= 30
    assert backoff_seconds(1, base=0.1, cap=60, retry_after=3600, rng=rng) == 60


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_sends_at_the_rate():
    t = FakeTime()
    bucket = TokenBucket(50, clock=t.clock, sleep=t.sleep)
    for _ in range(101):
        bucket.acquire()
    assert abs((t.now - 100.0) - 2.0) < 1e-9  # 100 intervals of 20 ms


def test_token_bucket_zero_rate_never_waits():
    t = FakeTime()
    bucket = TokenBucket(0, clock=t.clock, sleep=t.sleep)
    for _ in range(1000):
        bucket.acquire()
    assert t.slept == []
