"""RateLimit: the pure GCRA, the configuration, and the limiter in one process.

The cross-process tests (real Redis, subprocesses) are in test_ratelimit_processes.py.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathors_async import (
    AsyncPathors,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    StoreError,
    Timeout,
)
from pathors_async._limiter import NO_SLOT, Limiter, Slot
from pathors_async._ratelimit import MIN_REQUESTS_PER_MINUTE, GcraState, SharedRateLimit
from pathors_async.stores import MemoryStore, RedisStore, SQLiteStore
from pathors_async.testing import FakePathors

from .stores_support import redis_url, unique_prefix

__all__ = ["redis_url"]


async def until(condition) -> None:
    """Yield to the loop until `condition()` holds (the timeout only guards against a hang)."""

    async def spin() -> None:
        while not condition():  # noqa: ASYNC110 - the code under test has no event for it
            await asyncio.sleep(0)

    await asyncio.wait_for(spin(), 30)


# ------------------------------------------------------------------ the pure algorithm


def slots(state: GcraState, times, *, interval, tolerance):
    return [now + state.reserve(now, interval=interval, tolerance=tolerance) for now in times]


def test_a_burst_goes_at_once_then_the_steady_rate():
    state = GcraState()
    got = slots(state, [10.0] * 6, interval=1.0, tolerance=2.0)  # burst 3
    assert got == [10.0, 10.0, 10.0, 11.0, 12.0, 13.0]


def test_an_idle_budget_fills_up_to_the_burst_and_no_more():
    state = GcraState()
    slots(state, [0.0] * 3, interval=1.0, tolerance=2.0)
    assert slots(state, [100.0] * 5, interval=1.0, tolerance=2.0) == [100, 100, 100, 101, 102]


def test_a_request_never_waits_when_under_the_rate():
    state = GcraState()
    assert slots(state, [0.0, 1.5, 3.0, 4.5], interval=1.0, tolerance=0.0) == [0, 1.5, 3, 4.5]


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=60),
    burst=st.integers(min_value=1, max_value=5),
    pauses=st.lists(st.tuples(st.integers(0, 59), st.floats(0, 5)), max_size=3),
)
def test_no_window_ever_holds_more_than_the_burst_plus_the_rate(gaps, burst, pauses):
    interval = 0.5
    tolerance = (burst - 1) * interval
    state = GcraState()
    now = 0.0
    got = []
    paused_at = dict(pauses)
    for number, gap in enumerate(gaps):
        now += gap
        if number in paused_at:
            state.pause(now, paused_at[number])
        got.append(now + state.reserve(now, interval=interval, tolerance=tolerance))
        assert got[-1] >= now  # never before it was asked for
    assert got == sorted(got)  # first come, first served
    for i, first in enumerate(got):  # any two slots j > i are (j-i) intervals apart, less tolerance
        for j in range(i + 1, len(got)):
            assert got[j] - first >= (j - i) * interval - tolerance - 1e-9
    for start in got:  # so [t, t+1 s) holds at most burst - 1 + 1/interval slots
        inside = [t for t in got if start <= t < start + 1 - 1e-9]  # less float rounding
        assert len(inside) <= burst - 1 + math.ceil(1 / interval)


def test_a_pause_holds_every_slot_and_the_rate_resumes_without_a_burst():
    state = GcraState()
    assert slots(state, [0.0], interval=1.0, tolerance=2.0) == [0.0]
    state.pause(0.5, 2.0)  # a 429 with Retry-After: 2
    assert slots(state, [0.5] * 4, interval=1.0, tolerance=2.0) == [2.5, 3.5, 4.5, 5.5]


def test_a_shorter_pause_never_shortens_a_longer_one():
    state = GcraState()
    state.pause(0.0, 5.0)
    state.pause(1.0, 1.0)
    assert state.paused_until == 5.0


def test_once_a_pause_and_its_smoothing_are_over_the_burst_is_back():
    state = GcraState()
    state.pause(0.0, 1.0)
    assert slots(state, [10.0] * 3, interval=1.0, tolerance=1.0) == [10.0, 10.0, 11.0]
    assert state.paused_until == 0.0


def test_without_a_rate_only_pauses_hold_requests():
    state = GcraState()
    assert slots(state, [1.0] * 3, interval=0.0, tolerance=0.0) == [1.0] * 3
    state.pause(1.0, 2.0)
    assert slots(state, [1.5, 3.5], interval=0.0, tolerance=0.0) == [3.0, 3.5]


def test_a_recheck_takes_nothing_unless_a_pause_began():
    state = GcraState()
    slots(state, [0.0] * 2, interval=1.0, tolerance=0.0)
    before = state.tat
    assert state.reserve(1.0, interval=1.0, tolerance=0.0, recheck=True) == 0.0
    assert state.tat == before
    state.pause(1.0, 3.0)
    assert state.reserve(1.0, interval=1.0, tolerance=0.0, recheck=True) == 3.0
    assert state.tat == 5.0


# ------------------------------------------------------------------ the configuration


def test_rate_limit_derives_interval_burst_and_tolerance():
    limit = RateLimit(requests_per_minute=120)
    assert (limit.interval, limit.burst_size, limit.tolerance) == (0.5, 2, 0.5)
    assert RateLimit(requests_per_minute=30).burst_size == 1
    assert RateLimit(requests_per_minute=600, burst=1).tolerance == 0.0
    only_in_flight = RateLimit(max_in_flight=3)
    assert (only_in_flight.interval, only_in_flight.burst_size) == (0.0, 1)


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({}, ValueError, "needs requests_per_minute=, max_in_flight= or shared="),
        ({"requests_per_minute": 0}, ValueError, "at least 0.001"),
        ({"requests_per_minute": 1e-12}, ValueError, "at least 0.001 (one request every"),
        ({"requests_per_minute": math.inf}, ValueError, "finite"),
        ({"requests_per_minute": "60"}, TypeError, "must be a number"),
        ({"requests_per_minute": True}, TypeError, "must be a number"),
        ({"max_in_flight": 0}, ValueError, "1 or more"),
        ({"max_in_flight": 2.0}, TypeError, "must be an int"),
        ({"requests_per_minute": 60, "burst": 0}, ValueError, "1 or more"),
        ({"shared": MemoryStore()}, TypeError, "(RedisStore), not MemoryStore"),
    ],
)
def test_rate_limit_refuses_bad_options(options, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        RateLimit(**options)


def test_sqlite_store_cannot_share_a_rate_limit(tmp_path):
    store = SQLiteStore(str(tmp_path / "x.db"))
    with pytest.raises(TypeError, match="not SQLiteStore"):
        RateLimit(requests_per_minute=60, shared=store)


def test_the_client_refuses_what_is_not_a_rate_limit():
    with pytest.raises(TypeError, match="rate_limit must be a RateLimit, not dict"):
        AsyncPathors(api_key="k", project_id="p", rate_limit={"requests_per_minute": 60})


def test_redis_store_shares_rate_limits():
    store = RedisStore("redis://127.0.0.1:9/0")
    assert isinstance(store, SharedRateLimit)
    assert "RedisStore" in repr(RateLimit(requests_per_minute=60, shared=store))


def test_a_slot_is_given_back_once_and_can_be_handed_over():
    semaphore = asyncio.Semaphore(1)
    assert semaphore._value == 1
    slot = Slot(semaphore)
    semaphore._value = 0  # as if acquired
    kept = slot.hand_over()
    slot.release()
    assert semaphore._value == 0  # the old holder owns nothing now
    kept.release()
    kept.release()
    assert semaphore._value == 1
    assert NO_SLOT.hand_over() is NO_SLOT


# ------------------------------------------------------------------ the limiter, one process


async def test_a_cancelled_wait_for_a_slot_gives_its_place_back():
    limiter = Limiter(RateLimit(requests_per_minute=60, burst=1, max_in_flight=1))
    first = await limiter.take()
    first.release()
    waiting = asyncio.create_task(limiter.take())  # its slot is a second away
    await until(lambda: limiter._state.tat >= 2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter._semaphore is not None
    assert not limiter._semaphore.locked()


async def test_requests_keep_to_the_rate_against_the_emulator(fake):
    # 20 requests/s with a burst of 2: 12 requests take at least half a second
    limit = RateLimit(requests_per_minute=1200, burst=2)
    async with fake.client(rate_limit=limit) as client:
        await asyncio.gather(
            *(
                client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
                for _ in range(12)
            )
        )
    times = [request.received_at for request in fake.requests]
    assert len(times) == 12
    # the slots: 2 at once, then one every 50 ms, so 0.5 s from the first to the last
    # (100 ms less, for a first request slowed by opening its connection; unlimited: ~10 ms)
    assert max(times) - min(times) >= 0.4


async def test_max_in_flight_holds_a_stream_s_place_until_it_is_closed(fake):
    async with fake.client(rate_limit=RateLimit(max_in_flight=2)) as client:
        messages = [{"role": "user", "content": "hi"}]
        first = client.chat.completions.stream(messages=messages)
        second = client.chat.completions.stream(messages=messages)
        await first.__aenter__()
        await second.__aenter__()
        third = asyncio.create_task(client.chat.completions.create(messages=messages))
        limiter = client._transport.limiter
        assert limiter is not None
        assert limiter._semaphore is not None
        semaphore = limiter._semaphore
        await until(lambda: semaphore._waiters)  # the third waits for a place
        assert len(fake.requests) == 2
        assert [chunk async for chunk in first]  # read to its end, not yet closed
        assert not third.done()
        await first.__aexit__(None, None, None)
        completion = await asyncio.wait_for(third, 30)  # a guard against a hang only
        await second.__aexit__(None, None, None)
    assert completion.choices[0].message.content
    assert len(fake.requests) == 3


async def test_a_429_pauses_every_request_of_the_client_and_its_retry_takes_a_slot(fake, retries):
    fake.fail_next(429, retry_after="0.3")
    async with fake.client(rate_limit=RateLimit(requests_per_minute=6000)) as client:
        messages = [{"role": "user", "content": "hi"}]
        first = asyncio.create_task(client.chat.completions.create(messages=messages))
        await fake.wait_for_requests(1)
        limiter = client._transport.limiter
        assert limiter is not None
        await until(lambda: limiter._state.paused_until)  # the 429 paused the budget
        other = await client.chat.completions.create(messages=messages)
        await first
    assert other.choices[0].message.content
    assert retries.delays == [0.3]  # the retry waited (in test mode, recorded only)...
    rejected, *later = [request.received_at for request in fake.requests]
    assert len(later) == 2
    for when in later:  # ...and the pause really held both the retry and the other request
        assert when - rejected >= 0.29  # asyncio may wake a timer up to a millisecond early


async def test_a_429_without_retry_after_pauses_nothing(fake, retries):
    fake.fail_next(429)
    async with fake.client(rate_limit=RateLimit(requests_per_minute=6000)) as client:
        await client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
        assert client._transport.limiter is not None
        assert client._transport.limiter._state.paused_until == 0.0
    assert len(fake.requests) == 2


async def test_a_shared_store_that_is_down_is_a_store_error(fake):
    store = RedisStore("redis://127.0.0.1:9/0")
    limit = RateLimit(requests_per_minute=60, shared=store)
    async with fake.client(rate_limit=limit) as client:
        with pytest.raises(StoreError, match="check that the server is up"):
            await client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
        assert client._transport.limiter is not None
        assert client._transport.limiter._semaphore is None
    await store.aclose()
    assert fake.requests == []


# ------------------------------------------------------------------ the Redis scripts


async def test_redis_keeps_the_same_budget_as_the_pure_state(redis_url):
    store = RedisStore(redis_url, prefix=unique_prefix())
    try:
        waits = [await store.rate_limit_reserve(interval=1.0, tolerance=1.0) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0]  # the burst of 2
        assert 0.9 < waits[2] <= 1.0
        assert await store.rate_limit_reserve(interval=1.0, tolerance=1.0, recheck=True) == 0.0
        await store.rate_limit_pause(5.0, tolerance=1.0)
        await store.rate_limit_pause(1.0, tolerance=1.0)  # shorter: the longer pause stays
        paused = await store.rate_limit_reserve(interval=1.0, tolerance=1.0, recheck=True)
        assert 4.9 < paused <= 5.0
        then = await store.rate_limit_reserve(interval=1.0, tolerance=1.0)
        assert 5.9 < then <= 6.0  # after the pause, the steady rate: no burst
    finally:
        await store.aclose()


async def test_the_slowest_rate_works_alike_locally_and_on_redis(redis_url):
    limit = RateLimit(requests_per_minute=MIN_REQUESTS_PER_MINUTE, burst=1)
    store = RedisStore(redis_url, prefix=unique_prefix())
    try:
        waits = [
            await store.rate_limit_reserve(interval=limit.interval, tolerance=limit.tolerance)
            for _ in range(2)
        ]
        assert waits[0] == 0.0
        assert limit.interval - 1 < waits[1] <= limit.interval  # a wait, not an error
    finally:
        await store.aclose()


async def test_a_budget_is_per_prefix(redis_url):
    one = RedisStore(redis_url, prefix=unique_prefix())
    two = RedisStore(redis_url, prefix=unique_prefix())
    try:
        assert await one.rate_limit_reserve(interval=60.0, tolerance=0.0) == 0.0
        assert await two.rate_limit_reserve(interval=60.0, tolerance=0.0) == 0.0
        assert await one.rate_limit_reserve(interval=60.0, tolerance=0.0) > 59
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_client_with_a_shared_limit_waits_on_redis(redis_url):
    store = RedisStore(redis_url, prefix=unique_prefix())
    async with FakePathors() as fake:
        limit = RateLimit(requests_per_minute=600, burst=1, shared=store)
        async with fake.client(rate_limit=limit) as client:
            await asyncio.gather(
                *(
                    client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
                    for _ in range(4)
                )
            )
        times = [request.received_at for request in fake.requests]
    await store.aclose()
    assert len(times) == 4
    # slots 100 ms apart on the server's clock (less 100 ms for a slow first connection)
    assert max(times) - min(times) >= 3 * 0.1 - 0.1


class PauseFails:
    """A shared budget whose pause fails (as a Redis outage would)."""

    async def rate_limit_reserve(self, *, interval, tolerance, recheck=False):
        return 0.0

    async def rate_limit_pause(self, seconds, *, tolerance):
        raise StoreError("the store is down")


async def test_a_failed_shared_pause_is_logged_and_the_429_still_reaches_the_caller(fake, caplog):
    fake.fail_next(429, retry_after=1)
    limit = RateLimit(shared=PauseFails())
    async with fake.client(rate_limit=limit, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(RateLimitError):
            await client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
    assert "could not pause the shared rate limit for 1.00 s: the store is down" in caplog.text


async def test_the_wait_for_a_slot_is_not_counted_in_the_total_timeout(fake):
    # the second request waits 0.5 s for its slot, then its exchange takes 0.2 s of its 0.6 s
    fake.delay_next(0.2, times=2)
    limit = RateLimit(requests_per_minute=120, burst=1)
    async with fake.client(rate_limit=limit, timeout=Timeout(total=0.6)) as client:
        messages = [{"role": "user", "content": "hi"}]
        answers = await asyncio.gather(
            *(client.chat.completions.create(messages=messages) for _ in range(2))
        )
    assert len(answers) == 2
