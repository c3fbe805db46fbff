"""`ContentDecoder`: undo ``Content-Encoding`` (gzip, deflate) within a byte budget.

Pure (bytes in, bytes out). It never produces more than the budget plus one
byte, however well the input compresses, so a gzip bomb costs at most the
budget in memory; past the budget `over_limit` turns true and the caller stops.
"""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["ACCEPT_ENCODING", "ContentDecoder"]

#: What we ask servers for: the encodings decoded here.
ACCEPT_ENCODING: Final = "gzip, deflate"

_GZIP: Final = 16 + zlib.MAX_WBITS
_ZLIB: Final = zlib.MAX_WBITS
_RAW: Final = -zlib.MAX_WBITS


class ContentDecoder:
    """Decode one body's ``Content-Encoding`` as its bytes arrive, within `budget` bytes.

    Args:
        encoding: The ``Content-Encoding`` header (None, ``identity``, ``gzip``,
            ``x-gzip`` or ``deflate``).
        budget: The most decoded bytes the body may have.

    Raises:
        ValueError: Another encoding (the message names it).
    """

    __slots__ = ("_budget", "_wbits", "_z", "over_limit", "size")

    def __init__(self, encoding: str | None, budget: int) -> None:
        name = (encoding or "identity").strip().lower()
        self._wbits: int | None
        if name in ("", "identity"):
            self._wbits = None
        elif name in ("gzip", "x-gzip"):
            self._wbits = _GZIP
        elif name == "deflate":
            self._wbits = 0  # zlib or raw deflate: told apart by the first byte
        else:
            raise ValueError(
                f"unsupported Content-Encoding {encoding!r} (only gzip and deflate are asked for)"
            )
        self._budget = budget
        self._z: zlib._Decompress | None = None
        self.size = 0
        #: True once the decoded body passed the budget; output stops there.
        self.over_limit = False

    def feed(self, data: bytes) -> bytes:
        """Decode the next bytes of the body.

        Args:
            data: Raw bytes as received.

        Returns:
            The decoded bytes (at most one past the budget in all).

        Raises:
            zlib.error: The compressed data is corrupt.
        """
        if self.over_limit or not data:
            return b""
        room = self._budget - self.size + 1
        out = data[:room] if self._wbits is None else self._inflate(data)
        self.size += len(out)
        if self.size > self._budget:
            self.over_limit = True
        return out

    def _inflate(self, data: bytes) -> bytes:
        parts: list[bytes] = []
        while data:
            if self._z is None:
                wbits = self._wbits or (_ZLIB if data[0] & 0x0F == 8 else _RAW)
                self._z = zlib.decompressobj(wbits)
            room = self._budget - self.size - sum(map(len, parts)) + 1
            parts.append(self._z.decompress(data, max(room, 1)))
            if self._z.unconsumed_tail:  # stopped at the budget
                break
            data = self._z.unused_data  # a further gzip member, if any
            if data:
                self._z = None
        return b"".join(parts)
