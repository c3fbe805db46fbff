import math

import attrs
import pytest

from pathors_async import RetryPolicy, Timeout
from pathors_async._config import DEFAULT_RETRY_STATUSES, Endpoints, env_or


def test_timeout_defaults():
    assert Timeout() == Timeout(connect=10, read=120, total=600)


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"connect": 0}, ValueError, "Timeout.connect must be more than zero seconds, got 0"),
        ({"read": -1}, ValueError, "Timeout.read must be more than zero seconds"),
        ({"total": math.nan}, ValueError, "Timeout.total must be more than zero"),
        ({"total": "10"}, TypeError, "Timeout.total must be a number of seconds, not str"),
        ({"read": True}, TypeError, "not bool"),
    ],
)
def test_timeout_validates_itself(kwargs, error, text):
    with pytest.raises(error, match=text):
        Timeout(**kwargs)


def test_none_means_no_limit():
    assert Timeout(connect=None, read=None, total=None).total is None


def test_config_objects_are_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Timeout().read = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryPolicy().max_retries = 9  # type: ignore[misc]


def test_retry_policy_defaults():
    policy = RetryPolicy()
    assert policy.max_retries == 2
    assert (policy.backoff_initial, policy.backoff_max, policy.retry_after_max) == (0.5, 8, 60)
    assert policy.retry_statuses == DEFAULT_RETRY_STATUSES == {408, 429, 502, 503, 504, 529}
    assert 500 not in policy.retry_statuses
    assert policy.retry_on_disconnect is False


def test_retry_statuses_accept_any_iterable():
    assert RetryPolicy(retry_statuses=[500, 503]).retry_statuses == frozenset({500, 503})


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"max_retries": -1}, ValueError, "RetryPolicy.max_retries must be 0 or more, got -1"),
        ({"max_retries": 1.5}, TypeError, "RetryPolicy.max_retries must be an int, not float"),
        ({"backoff_initial": -0.1}, ValueError, "RetryPolicy.backoff_initial must be zero or more"),
        ({"jitter": 2}, ValueError, "RetryPolicy.jitter must be between 0 and 1, got 2"),
        ({"retry_statuses": 503}, TypeError, "must be a set of HTTP statuses"),
        ({"retry_statuses": {99, 503}}, ValueError, "non-HTTP statuses: 99"),
    ],
)
def test_retry_policy_validates_itself(kwargs, error, text):
    with pytest.raises(error, match=text):
        RetryPolicy(**kwargs)


def test_endpoint_presets():
    v1 = Endpoints.build(
        base_url="https://h/", project_id="p 1", api="v1", chat_completions_url=None
    )
    assert v1.chat_completions == "https://h/v1/projects/p%201/chat/completions"
    legacy = Endpoints.build(
        base_url="https://h", project_id="p", api="legacy", chat_completions_url=None
    )
    assert legacy.chat_completions == "https://h/api/project/p/integration/api/chat/completions"
    assert v1.sessions() == "https://h/v1/projects/p%201/sessions"
    assert v1.sessions("a b?") == "https://h/v1/projects/p%201/sessions/a%20b%3F"


def test_a_full_chat_url_needs_no_project_but_sessions_do():
    custom = Endpoints.build(
        base_url="https://h",
        project_id=None,
        api="v1",
        chat_completions_url="http://localhost:8000/v1/chat/completions",
    )
    assert custom.chat_completions == "http://localhost:8000/v1/chat/completions"
    with pytest.raises(ValueError, match="the session API needs a project id"):
        custom.sessions()


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"api": "v2"}, "api must be 'v1' or 'legacy', got 'v2'"),
        ({"base_url": "api.pathors.com"}, "base_url must look like https://host"),
        ({"chat_completions_url": "ftp://x"}, "chat_completions_url must look like https://host"),
        ({"project_id": None}, "no project id: pass project_id=... or set PATHORS_PROJECT_ID"),
    ],
)
def test_bad_endpoints_say_what_to_do(kwargs, text):
    options = {
        "base_url": "https://h",
        "project_id": "p",
        "api": "v1",
        "chat_completions_url": None,
    } | kwargs
    with pytest.raises(ValueError, match=text):
        Endpoints.build(**options)


def test_env_or(monkeypatch):
    monkeypatch.setenv("X_TEST", "from-env")
    assert env_or("given", "X_TEST") == "given"
    assert env_or(None, "X_TEST") == "from-env"
    monkeypatch.setenv("X_TEST", "")
    assert env_or(None, "X_TEST") is None
