from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from multidict import CIMultiDict

from pathors_async import RetryPolicy
from pathors_async._retry import Failure, backoff, retry_after, retry_delay, set_testing, sleep

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def no_jitter():
    return 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"Retry-After": "-2"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"Retry-After": "Wed, 25 Nov 2026 12:00:07"}, 7.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "x", "Retry-After": "9"}, 9.0),
        ({"retry-after-ms": "-5", "Retry-After": "9"}, 9.0),
    ],
)
def test_retry_after_forms(headers, expected):
    assert retry_after(CIMultiDict(headers), NOW) == expected


def test_retry_after_defaults_to_the_current_time():
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    seconds = retry_after({"retry-after": format_datetime(future, usegmt=True)})
    assert seconds is not None
    assert 3500 < seconds <= 3600


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens():
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=8, jitter=0.25)
    assert [backoff(policy, n, no_jitter) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]
    assert backoff(policy, 1, lambda: 0.999999) == pytest.approx(0.375, rel=1e-5)


def decide(**kwargs):
    kwargs.setdefault("retries_done", 0)
    kwargs.setdefault("rand", no_jitter)
    return retry_delay(kwargs.pop("policy", RetryPolicy()), now=NOW, **kwargs)


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_default_retries_the_statuses_that_did_not_run_a_turn(status):
    assert decide(status=status) == 0.5


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 500, 501])
def test_default_does_not_retry_other_statuses(status):
    assert decide(status=status) is None


def test_500_can_be_opted_in():
    assert decide(status=500, policy=RetryPolicy(retry_statuses={500, 503})) == 0.5


def test_connection_failures():
    assert decide(failure=Failure.NOT_SENT) == 0.5
    assert decide(failure=Failure.SENT) is None
    assert decide(failure=Failure.SENT, idempotent=True) == 0.5
    assert decide(failure=Failure.SENT, policy=RetryPolicy(retry_on_disconnect=True)) == 0.5


def test_failures_with_no_retry_kind_are_never_retried():
    # A total-deadline timeout or a certificate error: retrying cannot help.
    assert decide(failure=None) is None


def test_retries_run_out():
    assert decide(status=503, retries_done=1) == 1.0
    assert decide(status=503, retries_done=2) is None
    assert decide(status=503, policy=RetryPolicy(max_retries=0)) is None


def test_retry_after_wins_over_backoff_and_is_capped():
    assert decide(status=429, headers={"retry-after": "7"}) == 7
    assert decide(status=429, headers={"retry-after": "3600"}) == 60
    assert decide(status=429, headers={"retry-after": "0"}) == 0


def test_no_retry_when_the_wait_would_pass_the_deadline():
    assert decide(status=503, headers={"retry-after": "5"}, time_left=4.9) is None
    assert decide(status=503, headers={"retry-after": "5"}, time_left=5.1) == 5


async def test_test_mode_records_waits_without_sleeping():
    with set_testing() as state:
        assert state.enabled
        await sleep(3600)
        await sleep(2)
        assert state.delays == [3600, 2]
    with set_testing(enabled=False) as off:
        assert not off.enabled


async def test_test_mode_restores_the_previous_mode():
    with set_testing() as outer:
        with set_testing(enabled=False):
            pass
        await sleep(1)
        assert outer.delays == [1]
