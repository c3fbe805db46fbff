"""The SSE decoder: a table of WHATWG cases, and any split of the bytes gives the same events."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathors_async._sse import ServerSentEvent, SSEDecoder, SSELimitError


def decode(stream: bytes, *, feeds=None) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = []
    for piece in feeds or [stream]:
        events += decoder.feed(piece)
    return events + decoder.close()


def ev(data, event="message", id=None, retry=None):  # noqa: A002 - the field's name
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


CASES = [
    # (name, stream, expected events)
    ("one event", b"data: hi\n\n", [ev("hi")]),
    (
        "LF, CR and CRLF line ends",
        b"data: a\r\rdata: b\r\n\r\ndata: c\n\n",
        [ev("a"), ev("b"), ev("c")],
    ),
    ("data lines joined with LF", b"data: a\ndata: b\ndata\n\n", [ev("a\nb\n")]),
    ("one leading space stripped, only one", b"data:  two\ndata:none\n\n", [ev(" two\nnone")]),
    ("empty data line dispatches an empty event", b"data:\n\n", [ev("")]),
    ("field with no colon is an empty value", b"data\n\n", [ev("")]),
    ("no data, no event", b"event: x\n\nid: 1\n\nretry: 5\n\n: comment\n\n", []),
    ("comment lines ignored", b": keep-alive\ndata: x\n:\n\n", [ev("x")]),
    (
        "event type applies to one event",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        [ev("1", "a"), ev("2")],
    ),
    ("event type reset by a blank line without data", b"event: a\n\ndata: 2\n\n", [ev("2")]),
    ("empty event type is message", b"event:\ndata: 1\n\n", [ev("1")]),
    (
        "last event id carries over",
        b"id: 7\ndata: a\n\ndata: b\n\n",
        [ev("a", id="7"), ev("b", id="7")],
    ),
    ("id set without data still carries over", b"id: 9\n\ndata: a\n\n", [ev("a", id="9")]),
    (
        "empty id resets to empty",
        b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        [ev("a", id="1"), ev("b", id="")],
    ),
    ("id with NUL ignored", b"id: 1\n\nid: a\x00b\ndata: x\n\n", [ev("x", id="1")]),
    ("retry when all digits", b"retry: 1500\ndata: x\n\n", [ev("x", retry=1500)]),
    (
        "retry ignored otherwise",
        b"retry: 15s\ndata: x\n\nretry: -1\ndata: y\n\nretry:\ndata: z\n\n",
        [ev("x"), ev("y"), ev("z")],
    ),
    ("retry only for its block", b"retry: 5\ndata: a\n\ndata: b\n\n", [ev("a", retry=5), ev("b")]),
    ("unknown and miscased fields ignored", b"Data: no\nfoo: bar\ndata: yes\n\n", [ev("yes")]),
    ("colon in the value kept", b"data: a: b\n\n", [ev("a: b")]),
    ("BOM stripped at the start", b"\xef\xbb\xbfdata: x\n\n", [ev("x")]),
    ("BOM stripped once only", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n", []),
    ("a later BOM is data", b"data: \xef\xbb\xbfx\n\n", [ev("\ufeffx")]),
    ("invalid UTF-8 replaced", b"data: a\xffb\n\n", [ev("a\ufffdb")]),
    ("UTF-8 kept", "data: 你好 🌏\n\n".encode(), [ev("你好 🌏")]),
    ("unfinished event dropped", b"data: a\n\ndata: b\n", [ev("a")]),
    ("unfinished line dropped", b"data: a\n\ndata: b", [ev("a")]),
    ("trailing CR ends the last line", b"data: a\n\r", [ev("a")]),
    ("OpenAI style", b'data: {"x": 1}\n\ndata: [DONE]\n\n', [ev('{"x": 1}'), ev("[DONE]")]),
    (
        "event error",
        b'event: error\ndata: {"error": "boom"}\n\n',
        [ev('{"error": "boom"}', "error")],
    ),
    ("blank lines between events", b"\n\n\ndata: a\n\n\n\n", [ev("a")]),
    ("a space-only line is a field named space", b" \ndata: a\n\n", [ev("a")]),
]


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_whatwg_cases(stream, expected):
    assert decode(stream) == expected


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_whatwg_cases_fed_byte_by_byte(stream, expected):
    assert decode(stream, feeds=[stream[i : i + 1] for i in range(len(stream))]) == expected


def test_crlf_split_across_feeds_is_one_line_end():
    # With the CR and LF counted as two line ends this would be a blank line: "a" then "b".
    assert decode(b"", feeds=[b"data: a\r", b"\ndata: b\n\n"]) == [ev("a\nb")]


def test_bom_split_across_feeds():
    assert decode(b"", feeds=[b"\xef", b"\xbb", b"\xbfdata: x\n\n"]) == [ev("x")]
    assert decode(b"", feeds=[b"", b"\xef\xbb", b"", b"\xbfdata: y\n\n"]) == [ev("y")]


def test_a_utf8_character_split_across_feeds():
    raw = "data: é\n\n".encode()
    assert decode(b"", feeds=[raw[:7], raw[7:]]) == [ev("é")]


def test_events_come_out_as_soon_as_they_are_complete():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b") == [ev("a")]
    assert decoder.feed(b"\n\n") == [ev("b")]
    assert decoder.close() == []


def test_decoder_remembers_the_last_id_and_retry():
    decoder = SSEDecoder()
    decoder.feed(b"id: 4\nretry: 250\n\n")
    assert (decoder.last_event_id, decoder.retry) == ("4", 250)


def test_a_long_line_over_many_feeds():
    payload = b"x" * 1_000_000
    stream = b"data: " + payload + b"\n\n"
    feeds = [stream[i : i + 16384] for i in range(0, len(stream), 16384)]
    [event] = decode(stream, feeds=feeds)
    assert event.data == payload.decode()


# ------------------------------------------------------------------ properties


def reference(stream: bytes) -> list[ServerSentEvent]:
    """The WHATWG algorithm written plainly, character by character, as an oracle."""
    text = stream.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char in "\r\n":
            lines.append("".join(current))
            current = []
            if char == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
        else:
            current.append(char)
        i += 1
    events, data, event_type, last_id, retry = [], "", "", None, None
    for line in lines:
        if line == "":
            if data == "":
                event_type, retry = "", None
                continue
            events.append(ev(data.removesuffix("\n"), event_type or "message", last_id, retry))
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events


fields = st.sampled_from(
    [b"data", b"event", b"id", b"retry", b"", b"Data", b"x", b":comment", b"data:", b"id:"]
)
values = st.binary(max_size=8).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
values |= st.sampled_from([b"", b" ", b"  a", b"123", b"\xef\xbb\xbf", "é".encode(), b"a\x00"])
line_ends = st.sampled_from([b"\n", b"\r", b"\r\n"])
lines = st.tuples(fields, st.sampled_from([b"", b":", b": "]), values, line_ends).map(b"".join)
streams = st.tuples(st.sampled_from([b"", b"\xef\xbb\xbf"]), st.lists(lines, max_size=30)).map(
    lambda parts: parts[0] + b"".join(parts[1])
)


@given(streams, st.lists(st.integers(min_value=0), max_size=20))
def test_any_split_gives_the_same_events(stream, cuts):
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    feeds = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode(stream, feeds=feeds) == decode(stream)


@given(streams)
def test_the_decoder_agrees_with_the_plain_algorithm(stream):
    assert decode(stream) == reference(stream)


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_oracle_agrees_with_the_table(stream, expected):
    assert reference(stream) == expected


@given(streams)
def test_byte_by_byte_gives_the_same_events(stream):
    assert decode(stream, feeds=[stream[i : i + 1] for i in range(len(stream))]) == decode(stream)


@given(
    st.lists(st.text(max_size=30).filter(lambda t: "\n" not in t and "\r" not in t), max_size=10)
)
def test_data_round_trips(texts):
    stream = b"".join(f"data: {t}\n\n".encode() for t in texts)
    assert [e.data for e in decode(stream)] == texts


payloads = st.text(max_size=12).filter(lambda t: "\n" not in t and "\r" not in t)
prefixes = st.sampled_from(
    ["data: ", "data: ", "data: ", "data:", "event: e\ndata: ", ": c\ndata: "]
)
blocks = st.tuples(prefixes, payloads, st.sampled_from(["\n\n", "\n\n", "\r\n\r\n", "\n\n\n"]))


@given(st.lists(blocks, max_size=12), st.lists(st.integers(min_value=0), max_size=8))
def test_chat_like_streams_agree_with_the_oracle_however_split(events, cuts):
    # Mostly the "data: X" + blank line shape the fast path takes, with a few others mixed in.
    stream = "".join(p + d + end for p, d, end in events).encode()
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    feeds = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode(stream, feeds=feeds) == reference(stream)


# ------------------------------------------------------------------ bounds


def test_an_unfinished_line_past_its_bound_is_refused_in_any_slices():
    decoder = SSEDecoder(max_line_bytes=100)
    decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(SSELimitError, match="max_line_bytes=100") as info:
        decoder.feed(b"y" * 60)
    assert (info.value.bound, info.value.limit) == ("max_line_bytes", 100)
    with pytest.raises(SSELimitError):
        SSEDecoder(max_line_bytes=100).feed(b"data: ok\n\ndata: " + b"z" * 200)


def test_a_whole_line_past_its_bound_is_refused_even_in_one_feed():
    with pytest.raises(SSELimitError, match="max_line_bytes"):
        SSEDecoder(max_line_bytes=100).feed(b"data: " + b"x" * 200 + b"\n\n")


def test_data_lines_without_a_blank_line_stop_at_the_event_bound():
    decoder = SSEDecoder(max_event_bytes=1000)
    for _ in range(20):
        assert decoder.feed(b"data: " + b"x" * 49 + b"\n") == []
    with pytest.raises(SSELimitError, match="max_event_bytes=1000"):
        decoder.feed(b"data: " + b"x" * 50 + b"\n")
    with pytest.raises(SSELimitError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=10).feed(b"event: e\ndata" + b": " + b"y" * 20 + b"\n\n")


def test_events_within_the_bounds_are_unchanged():
    stream = b"".join(b"data: %d\n\n" % n for n in range(100))
    bounded = SSEDecoder(max_line_bytes=64, max_event_bytes=64)
    assert bounded.feed(stream) == SSEDecoder().feed(stream)
    assert bounded.feed(b"data: " + b"x" * 58 + b"\n\n")[0].data == "x" * 58
