"""The fault matrix (issue 8, item 4): every server fault against create, stream and the agent.

Each row asserts the exact error class (or success, after a transparent retry), how many
requests the server saw, the retry waits, and that what arrived is kept: a stream's
`.partial_completion`, an agent's transcript (`exc.messages`, and a conversation's saved form).
"""

import json
import re

import pytest

from pathors_async import Conversation, PathorsError

from .cases import BY_NAME, rows, wait_matches
from .conftest import QUESTION, SESSION, TEXT, TOOL_CALL, TOOL_TEXT
from .ops import AGENT, STREAMED, play

ROWS = rows()


def delays_match(actual, expected):
    return len(actual) == len(expected) and all(
        wait_matches(got, want) for got, want in zip(actual, expected, strict=True)
    )


def assert_transcript_kept(messages):
    """Turn 1 (a tool call) and its answer are in the transcript, nothing else."""
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[0].content == QUESTION
    assert [call.id for call in messages[1].tool_calls] == [TOOL_CALL.id]
    assert messages[2].tool_call_id == TOOL_CALL.id
    assert messages[2].content == TOOL_TEXT


def assert_success(case, op, value):
    assert value.session_id == SESSION
    if case.check is not None:
        case.check(op, value)
    elif op in AGENT:
        assert value.output == TEXT
        assert [m.role for m in value.messages] == ["user", "assistant", "tool", "assistant"]
    else:
        assert value.choices[0].message.content == TEXT


def assert_failure(case, op, outcome):
    error = outcome.error
    assert type(error) is case.error_for(op), repr(error)
    assert isinstance(error, PathorsError)
    if case.match is not None:
        assert re.search(case.match, str(error)), str(error)
    if case.body is not None:
        assert case.body in error.body
    partial = getattr(error, "partial_completion", None)
    if op in STREAMED and case.partial is not None:
        assert partial is not None
        assert partial.choices[0].message.content == case.partial
    else:
        assert partial is None
    if op in AGENT:
        assert_transcript_kept(error.messages)
    else:
        assert error.messages is None
    if outcome.conversation is not None:
        saved = json.loads(json.dumps(outcome.saved))
        restored = Conversation.from_dict(saved, agent=outcome.agent)
        assert_transcript_kept(restored.messages)
        assert restored.session_id == SESSION


@pytest.mark.parametrize(("name", "op"), ROWS, ids=[f"{name}-{op}" for name, op in ROWS])
async def test_fault(name, op, retries):
    case = BY_NAME[name]
    outcome, _ = await play(case, op)
    if case.error_for(op) is None:
        assert outcome.error is None, repr(outcome.error)
        assert_success(case, op, outcome.value)
    else:
        assert_failure(case, op, outcome)
    turns_before = 1 if op in AGENT else 0
    turns_after = case.agent_extra if op in AGENT else 0
    assert outcome.seen == turns_before + case.requests + turns_after
    assert delays_match(retries.delays, case.delays), retries.delays  # the next turn: none
    if case.server_survives:  # the client still works: the fault poisoned nothing
        assert not isinstance(outcome.next_turn, BaseException), repr(outcome.next_turn)
        assert outcome.next_turn.choices[0].message.content
    if case.server_survives and op in AGENT and outcome.error is not None:
        # The transcript kept is enough to retry the turn, and the conversation is not stuck.
        assert not isinstance(outcome.retried, BaseException), repr(outcome.retried)
        assert_transcript_kept(outcome.retried.messages[:3])
        assert [m.role for m in outcome.retried.messages[3:]] == ["assistant"]
        assert outcome.retried.output
