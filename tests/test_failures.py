"""`_failures.connection_error`: every cause in every phase, without a network."""

import pytest

from pathors_async import APIConnectionError, APITimeoutError, StreamError, Timeout
from pathors_async._exchange import Request
from pathors_async._failures import Cause, connection_error
from pathors_async._retry import Failure

REQUEST = Request(
    method="POST", url="http://127.0.0.1:1/chat", timeout=Timeout(connect=5, read=7, total=9)
)
SENT, NOT_SENT = Failure.SENT, Failure.NOT_SENT


@pytest.mark.parametrize(
    ("cause", "phase", "cls", "failure", "words"),
    [
        (Cause.CONNECT_TIMEOUT, "send", APITimeoutError, NOT_SENT, "within 5 s (Timeout.connect)"),
        (Cause.READ_TIMEOUT, "send", APITimeoutError, SENT, "for 7 s (Timeout.read): POST"),
        (Cause.READ_TIMEOUT, "body", APITimeoutError, SENT, "in the body of POST"),
        (Cause.READ_TIMEOUT, "stream", APITimeoutError, SENT, ".partial_completion holds"),
        (Cause.TOTAL_TIMEOUT, "send", APITimeoutError, None, "longer than 9 s (Timeout.total)"),
        (Cause.TOTAL_TIMEOUT, "stream", APITimeoutError, None, "the stream from POST"),
        (Cause.CERTIFICATE, "send", APIConnectionError, None, "TLS certificate check failed"),
        (Cause.CONNECT, "send", APIConnectionError, NOT_SENT, "could not connect for POST"),
        (Cause.BROKEN, "send", APIConnectionError, SENT, "before a response: boom"),
        (Cause.BROKEN, "body", APIConnectionError, None, "while reading the body of POST"),
        (Cause.BROKEN, "stream", StreamError, None, "the turn may have run"),
    ],
)
def test_each_cause_and_phase(cause, phase, cls, failure, words):
    error, sent = connection_error(cause, request=REQUEST, phase=phase, detail="boom")
    assert type(error) is cls
    assert sent is failure
    assert words in str(error)
    assert error.url == REQUEST.url
