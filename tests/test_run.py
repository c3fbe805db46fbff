"""Pure pieces of the run: repairing transcripts saved with unanswered tool calls."""

from pathors_async import FunctionCall, Message, ToolCall, ToolFailure
from pathors_async._dispatch import CANCELLED_TEXT
from pathors_async._run import answer_unanswered


def calling(*ids):
    return Message(
        role="assistant",
        tool_calls=[ToolCall(id=i, function=FunctionCall(name="f", arguments="{}")) for i in ids],
    )


def answer(call_id):
    return Message(role="tool", tool_call_id=call_id, content="ok")


def user(text):
    return Message(role="user", content=text)


def shape(messages):
    return [(m.role, m.tool_call_id) for m in messages]


def test_a_valid_transcript_is_left_as_it_is():
    messages = [user("a"), calling("1", "2"), answer("2"), answer("1"), user("b")]
    assert answer_unanswered(messages, 5) == (messages, 5)


def test_missing_answers_go_after_the_calls_answers():
    messages = [user("a"), calling("1", "2", "3"), answer("2"), user("b")]
    repaired, known = answer_unanswered(messages, 4)
    assert shape(repaired) == [
        ("user", None),
        ("assistant", None),
        ("tool", "2"),
        ("tool", "1"),
        ("tool", "3"),
        ("user", None),
    ]
    assert known == 6  # the server had seen everything: the count moves with the insert
    assert repaired[3].failure is ToolFailure.CANCELLED
    assert repaired[3].content == CANCELLED_TEXT


def test_an_unanswered_call_at_the_end_is_new_to_the_service():
    repaired, known = answer_unanswered([user("a"), calling("1")], 2)
    assert shape(repaired) == [("user", None), ("assistant", None), ("tool", "1")]
    assert known == 2  # so the answer is sent with the next request (history="server")
