"""The secrets sweep (issue 8, item 5): every fault-matrix row, DEBUG logging on, no key anywhere.

The key is looked for raw, JSON-escaped (as ``json.dumps`` writes it, with ``\\/`` as PHP
does, and with a ``\\uXXXX`` escape) and percent-encoded, in every log record (message and
formatted text with its traceback), every repr and str a user could show (client, agent,
stream, run, conversation, completions, errors), every error's ``.body``, ``.details``,
``.headers``, ``.messages`` and ``.partial_completion``, the formatted traceback of the whole
exception chain, and a conversation's ``to_dict()``.
"""

import json

import pytest

from pathors_async import Conversation

from .cases import BY_NAME, rows
from .ops import play
from .secrets import leaks, texts_of_error

ROWS = rows()


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
    texts += [repr(dict(getattr(item, "response_headers", None) or {})) for item in outcome.shown]
    if outcome.value is not None:
        texts.append(repr(outcome.value))
    if outcome.error is not None:
        texts += texts_of_error(outcome.error)
    texts += saved_conversation(outcome)
    texts += [json.dumps(outcome.saved), repr(outcome.next_turn), repr(outcome.retried)]
    texts += [*captured.texts, caplog.text]
    assert leaks(texts) == []
