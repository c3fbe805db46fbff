"""Fuzzing the decoding of server JSON: a model or our typed error, never anything else.

Random JSON, and real payloads with one part replaced or removed, go through every
public structuring function. The result is always a model whose text UTF-8 can
encode (lone surrogates replaced), or a `ResponseShapeError`.
"""

import copy
import json

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pathors_async import _models as models
from pathors_async._accumulator import ChatCompletionAccumulator
from pathors_async._converter import (
    ResponseShapeError,
    chunk_from_json,
    completion_from_json,
    structure,
    unstructure,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODELS = sorted(
    (obj for obj in vars(models).values() if attrs.has(obj) and obj is not models.ToolResult),
    key=lambda cls: cls.__name__,
)
WIRE_KEYS = [
    "id", "object", "created", "model", "choices", "index", "message", "delta", "role",
    "content", "type", "text", "tool_calls", "function", "name", "arguments", "tool_call_id",
    "finish_reason", "usage", "prompt_tokens", "completion_tokens", "total_tokens",
    "session_id", "sessionId", "pathwayId", "success", "state", "variables", "messages",
]  # fmt: skip
ODD_TEXT = ["\ud800", "\udfff", "a\ud83db", "assistant", "model", "", " s", "\r\n", "\x00", "é"]
characters = st.one_of(
    st.characters(exclude_categories=()), st.sampled_from(["\ud800", "\udfff", "\x00", "\n"])
)
texts = st.one_of(st.text(characters, max_size=12), st.sampled_from(ODD_TEXT))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(WIRE_KEYS), texts), children, max_size=5),
    ),
    max_leaves=25,
)

CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
REAL_PAYLOADS = [
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "tool_calls": [CALL]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": -1, "total_tokens": 2},
        "session_id": "s1",
    },
    {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "a"}],
                    "tool_calls": [{"index": 0, **CALL}],
                },
                "finish_reason": None,
            }
        ],
        "session_id": "s1",
    },
    {
        "sessionId": "s1",
        "pathwayId": "p",
        "success": True,
        "message": "bye",
        "state": {"variables": {"k": [1, "v"]}, "messages": [{"role": "user", "content": "x"}]},
    },
]


def places(value, path=()):
    """Every path into a JSON value (the root included)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, (*path, index))


@st.composite
def damaged_payloads(draw):
    """A real payload with one part replaced by random JSON, or removed."""
    payload = copy.deepcopy(draw(st.sampled_from(REAL_PAYLOADS)))
    path = draw(st.sampled_from([p for p in places(payload) if p]))
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return payload


payloads = st.one_of(json_values, damaged_payloads(), st.sampled_from(REAL_PAYLOADS))


def assert_sendable(model):
    """What the model holds can be written as UTF-8 JSON (so sent in a next request)."""
    json.dumps(unstructure(model), ensure_ascii=False).encode()


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@FUZZ
@given(data=payloads)
def test_structure_gives_a_model_or_a_shape_error(cls, data):
    try:
        model = structure(copy.deepcopy(data), cls)
    except ResponseShapeError:
        return
    assert isinstance(model, cls)
    assert_sendable(model)


@FUZZ
@given(data=payloads, header=st.sampled_from([None, "from-header"]))
def test_completion_from_json_gives_a_completion_or_a_shape_error(data, header):
    try:
        completion = completion_from_json(data, session_id=header)
    except ResponseShapeError:
        return
    assert_sendable(completion)
    if header is not None:
        assert completion.session_id == header


@FUZZ
@given(stream=st.lists(payloads, max_size=6))
def test_any_stream_of_chunks_assembles_or_is_a_shape_error(stream):
    accumulator = ChatCompletionAccumulator()
    for data in stream:
        try:
            chunk = chunk_from_json(data)
        except ResponseShapeError:
            continue
        assert_sendable(chunk)
        accumulator.add(chunk)
        assert_sendable(accumulator.snapshot())  # a partial completion is always there


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("function", "data"),
    [
        (
            lambda data: completion_from_json(data, session_id=None),
            {"choices": [{"message": {"tool_calls": [{"function": {"name": "f"}}]}}]},
        ),
        (
            chunk_from_json,
            {"choices": [{"delta": {"tool_calls": [{"function": {"name": "f"}}]}}]},
        ),
        (lambda data: structure(data, models.SessionState), {"sessionId": "s", "state": {}}),
    ],
)
def test_json_nested_too_deeply_is_a_shape_error(function, data):
    deep = nested(100_000)
    calls = data["choices"][0] if "choices" in data else data
    if "state" in calls:
        calls["state"]["variables"] = {"deep": deep}
    else:
        part = calls.get("message") or calls["delta"]
        part["tool_calls"][0]["function"]["arguments"] = deep
    with pytest.raises(ResponseShapeError, match="nested too deeply"):
        function(data)
