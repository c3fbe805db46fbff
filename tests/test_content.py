"""`_content.ContentDecoder`: gzip and deflate within a byte budget."""

import gzip
import zlib

import pytest

from pathors_async._content import ContentDecoder


def feed_all(decoder, data, size=1000):
    out = []
    for i in range(0, len(data), size):
        out.append(decoder.feed(data[i : i + size]))
        while decoder.has_more:
            out.append(decoder.feed(b""))
    return b"".join(out)


def test_one_call_never_decodes_more_than_a_step():
    decoder = ContentDecoder("gzip", 64 << 20)
    first = decoder.feed(gzip.compress(b"\0" * (4 << 20)))
    assert len(first) == 256 * 1024
    rest = []
    while decoder.has_more:
        rest.append(decoder.feed(b""))
        assert len(rest[-1]) <= 256 * 1024
    assert len(first) + sum(map(len, rest)) == 4 << 20


@pytest.mark.parametrize("encoding", [None, "identity", "", " Identity "])
def test_identity_passes_bytes_through(encoding):
    decoder = ContentDecoder(encoding, 10)
    assert decoder.feed(b"hello") == b"hello"
    assert not decoder.over_limit
    assert decoder.feed(b"world!") == b"world!"[:6]
    assert decoder.over_limit
    assert decoder.feed(b"more") == b""


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),
    ],
)
def test_compressed_bodies_decode_in_any_slices(encoding, compress):
    body = b"".join(b"line %d\n" % n for n in range(5000))
    assert feed_all(ContentDecoder(encoding, len(body)), compress(body)) == body
    assert feed_all(ContentDecoder(encoding, len(body)), compress(body), size=1) == body


def test_concatenated_gzip_members_are_all_decoded():
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    assert feed_all(ContentDecoder("gzip", 100), data) == b"first second"


def test_a_bomb_stops_one_byte_past_the_budget():
    bomb = gzip.compress(b"\0" * (16 << 20))
    decoder = ContentDecoder("gzip", 1 << 20)
    out = feed_all(decoder, bomb, size=1 << 16)
    assert decoder.over_limit
    assert len(out) == (1 << 20) + 1


def test_unknown_encodings_and_corrupt_data():
    with pytest.raises(ValueError, match="unsupported Content-Encoding 'br'"):
        ContentDecoder("br", 10)
    with pytest.raises(zlib.error):
        ContentDecoder("gzip", 10).feed(b"not gzip at all")
