"""`RespReader`: Redis replies out of bytes split anywhere, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathors_async.stores._resp import (
    MAX_BULK,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_LINE,
    ProtocolError,
    RespReader,
)


class RefusedError(Exception):
    """An error reply, as the reader's caller makes it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RefusedError) and other.args == self.args

    def __hash__(self) -> int:
        return hash(self.args)


def reader() -> RespReader:
    return RespReader(RefusedError)


def encode(value: Any) -> bytes:
    """`value` as a RESP2 server writes it."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, RefusedError):
        return b"-%s\r\n" % value.args[0].encode()
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%b\r\n" % (len(value), value)
    return b"*%d\r\n%b" % (len(value), b"".join(encode(item) for item in value))


replies = st.recursive(
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.binary(max_size=300)
    | st.builds(
        RefusedError,
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
        ),
    ),
    lambda items: st.lists(items, max_size=4),
    max_leaves=12,
)


@given(st.lists(replies, max_size=8), st.data())
def test_replies_split_anywhere_come_out_whole_and_in_order(sent, data):
    wire = b"".join(encode(reply) for reply in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    pieces = [wire[start:end] for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    got: list[Any] = []
    resp = reader()
    for piece in pieces:
        got += resp.feed(piece)
    assert got == sent


def test_a_reply_is_given_only_once_it_is_complete():
    resp = reader()
    assert resp.feed(b"*2\r\n:7\r\n$5\r\nhel") == []
    assert resp.feed(b"lo") == []
    assert resp.feed(b"\r\n:1") == [[7, b"hello"]]
    assert resp.feed(b"\r\n") == [1]


def test_a_large_reply_in_many_pieces_is_put_together_once():
    resp, body = reader(), b"x" * 1_000_000
    wire = b"$%d\r\n%b\r\n" % (len(body), body)
    pieces = [wire[n : n + 1000] for n in range(0, len(wire), 1000)]
    got = [reply for piece in pieces for reply in resp.feed(piece)]
    assert got == [body]


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b"_\r\n", None),
        (b"#t\r\n", True),
        (b"#f\r\n", False),
        (b",1.5\r\n", 1.5),
        (b"(12345678901234567890\r\n", 12345678901234567890),
        (b"+OK\r\n", b"OK"),
        (b"=8\r\ntxt:some\r\n", b"some"),
        (b"!11\r\nERR refused\r\n", RefusedError("ERR refused")),
        (b"~2\r\n:1\r\n:2\r\n", [1, 2]),
        (b"%1\r\n+a\r\n:1\r\n", [b"a", 1]),
        (b"*-1\r\n", None),
        (b"-NOSCRIPT No matching script\r\n", RefusedError("NOSCRIPT No matching script")),
    ],
)
def test_resp3_and_odd_resp2_replies_are_understood(wire, value):
    assert reader().feed(wire) == [value]


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"?what\r\n", "unknown type"),
        (b":seven\r\n", "not one"),
        (b",x\r\n", "a double that is not one"),
        (b"$3\r\nabcde\r\n", "not followed by CRLF"),
        (b"$%d\r\n" % (MAX_BULK + 1), "a bulk string of"),
        (b"*%d\r\n" % (MAX_ITEMS + 1), "items"),
        (b"*2\r\n" + (b"*%d\r\n" % (MAX_ITEMS // 2) + b"_\r\n" * (MAX_ITEMS // 2)) * 2, "items"),
        (b"*1\r\n" * (MAX_DEPTH + 1) + b":1\r\n", "nested"),
        (b"+" + b"x" * MAX_LINE, "a line of more than"),
    ],
)
def test_what_is_not_resp_is_a_protocol_error(wire, error):
    with pytest.raises(ProtocolError, match=error):
        reader().feed(wire)


def test_a_long_line_is_refused_even_when_it_comes_in_pieces():
    resp = reader()
    assert resp.feed(b"+" + b"x" * (MAX_LINE // 2)) == []
    with pytest.raises(ProtocolError, match="a line of more than"):
        resp.feed(b"x" * (MAX_LINE // 2))


def test_what_the_server_sent_is_never_quoted_in_an_error():
    for wire in (b"?hunter2\r\n", b":hunter2\r\n", b",hunter2\r\n", b"*hunter2\r\n"):
        with pytest.raises(ProtocolError) as info:
            reader().feed(wire)
        assert "hunter2" not in str(info.value)


class CountingReader(RespReader):
    """Counts the times a reply is parsed from its start."""

    def __init__(self) -> None:
        super().__init__(RefusedError)
        self.attempts = 0

    def _reply(self, buffer: bytes, position: int, depth: int) -> tuple[Any, int]:
        self.attempts += depth == 0
        return super()._reply(buffer, position, depth)


def test_a_reply_trickled_a_byte_at_a_time_is_parsed_again_only_when_a_line_ends():
    wire = b"*%d\r\n" % MAX_ITEMS + b":1\r\n" * MAX_ITEMS  # within the bounds
    resp, got = CountingReader(), []
    for at in range(len(wire)):
        got += resp.feed(wire[at : at + 1])
    assert got == [[1] * MAX_ITEMS]
    assert resp.attempts <= wire.count(b"\n") + 1  # not once per byte
