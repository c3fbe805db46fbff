"""The secrets sweep (issue 8, item 5): every fault-matrix row, DEBUG logging on, no key anywhere.

The key is looked for raw, JSON-escaped (as ``json.dumps`` writes it, with ``\\/`` as PHP
does, and with a ``\\uXXXX`` escape) and percent-encoded, in every log record (message and
formatted text with its traceback), every repr and str a user could show (client, agent,
stream, run, conversation, completions, errors), every error's ``.body``, ``.details``,
``.headers``, ``.messages`` and ``.partial_completion``, the formatted traceback of the whole
exception chain, and a conversation's ``to_dict()``.
"""

import json
import logging
import traceback
from urllib.parse import quote, quote_plus

import pytest

from pathors_async import Conversation

from .cases import BY_NAME, ESCAPED_KEY, rows
from .conftest import FAULT_KEY
from .ops import play

ROWS = rows()
FORMS = {
    "raw": FAULT_KEY,
    "json": json.dumps(FAULT_KEY)[1:-1],
    "json-slash": json.dumps(FAULT_KEY)[1:-1].replace("/", "\\/"),
    "json-unicode": ESCAPED_KEY,
    "percent": quote(FAULT_KEY, safe=""),
    "percent-path": quote(FAULT_KEY),
    "percent-plus": quote_plus(FAULT_KEY),
}


class Capture(logging.Handler):
    """Keeps every record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts += [self.format(record), repr(record.args), record.getMessage()]


@pytest.fixture
def captured(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("pathors_async", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def texts_of_error(error):
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts += [str(error), repr(error)]
        for name in ("body", "details", "headers", "messages", "partial_completion", "url"):
            value = getattr(error, name, None)
            if value is not None:
                texts.append(repr(value))
        if getattr(error, "headers", None) is not None:
            texts += [f"{name}: {value}" for name, value in error.headers.items()]
        if getattr(error, "details", None) is not None:
            texts.append(json.dumps(error.details, default=str))
        # The chain as traceback (and error trackers) follow it: a context raised
        # `from None` is not shown.
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return texts


def saved_conversation(outcome):
    conversation = outcome.conversation
    if conversation is None and outcome.agent is not None:
        messages = getattr(outcome.error, "messages", None) or outcome.value.messages
        conversation = Conversation(outcome.agent, messages=messages)
    return [] if conversation is None else [json.dumps(conversation.to_dict())]


@pytest.mark.parametrize(("name", "op"), ROWS, ids=[f"{name}-{op}" for name, op in ROWS])
async def test_no_key_anywhere(name, op, retries, captured, caplog):
    outcome, _ = await play(BY_NAME[name], op)
    texts = [repr(item) for item in outcome.shown] + [str(item) for item in outcome.shown]
    if outcome.value is not None:
        texts.append(repr(outcome.value))
    if outcome.error is not None:
        texts += texts_of_error(outcome.error)
    texts += saved_conversation(outcome)
    texts += [*captured.texts, caplog.text]
    leaks = {form for form, key in FORMS.items() for text in texts if key in text}
    assert leaks == set(), [text for text in texts if any(k in text for k in FORMS.values())]
