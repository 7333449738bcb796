"""Fixtures for wire tests: stub servers on 127.0.0.1 (stopped in finalizers)
and a fake monotonic time that the adapter's limiters and backoffs sleep on."""

from __future__ import annotations

import random
import threading

import pytest

from live.openalgo import AmbiguityPolicy, OpenAlgoBroker, RetryPolicy, Timeouts
from tests.wire.stub_rest import API_KEY, StubOpenAlgo


class FakeTime:
    """monotonic() and sleep() for limiters/backoff: sleep advances time
    instantly and is recorded, so no test waits on the wall clock."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def stub():
    s = StubOpenAlgo()
    yield s
    s.stop()


def make_broker(url: str, fake_time: FakeTime, **kw) -> OpenAlgoBroker:
    kw.setdefault("timeouts", Timeouts(connect=1.0, read=2.0, order=2.0))
    kw.setdefault("retry", RetryPolicy(attempts=3, base_delay=0.1, max_delay=1.0))
    kw.setdefault("ambiguity", AmbiguityPolicy(lookups=2, delay=0.01))
    return OpenAlgoBroker(
        url,
        API_KEY,
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
        rng=random.Random(7),
        **kw,
    )


@pytest.fixture
def broker(stub, fake_time):
    b = make_broker(stub.url, fake_time)
    yield b
    b.close()
