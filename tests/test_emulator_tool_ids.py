"""The emulator refuses one assistant message calling two tools under one id, as OpenAI does."""

import pytest

from pathors_async import BadRequestError
from pathors_async.testing._requests import BadRequest, check_tool_answers

DUPLICATE = (
    "Invalid parameter: the 'tool_calls' of messages[1] use the id 'a' more than once; "
    "each tool call needs its own id."
)


def user(text):
    return {"role": "user", "content": text}


def assistant_calling(*ids):
    calls = [
        {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids
    ]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def tool_answer(call_id):
    return {"role": "tool", "tool_call_id": call_id, "content": "ok"}


@pytest.mark.parametrize(
    "messages",
    [
        [user("x"), assistant_calling("a", "a"), tool_answer("a")],
        [user("x"), assistant_calling("a", "a"), tool_answer("a"), tool_answer("a")],
        [user("x"), assistant_calling("a", "b", "a"), tool_answer("a"), tool_answer("b")],
    ],
)
def test_duplicate_call_ids_in_one_message_are_refused(messages):
    with pytest.raises(BadRequest) as info:
        check_tool_answers(messages)
    assert info.value.message == DUPLICATE
    assert info.value.field == "messages[1].tool_calls"


def test_the_same_id_in_two_assistant_messages_is_allowed():
    check_tool_answers(
        [
            user("x"),
            assistant_calling("a"),
            tool_answer("a"),
            assistant_calling("a"),
            tool_answer("a"),
        ]
    )


async def test_the_emulator_answers_400(fake, client):
    fake.reply("not reached")
    messages = [user("x"), assistant_calling("a", "a"), tool_answer("a")]
    with pytest.raises(BadRequestError, match="more than once"):
        await client.chat.completions.create(messages=messages)
