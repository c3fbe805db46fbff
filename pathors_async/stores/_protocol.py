"""The `ConversationStore` protocol, the `Lease` it hands out, and checks every store shares.

A store keeps each conversation's saved data (what `Conversation.to_dict` returns)
under a key, and a lease per key so that one turn at a time runs per conversation
across every process sharing the store. Leases carry a fencing token: a number
that only grows, so a write made with an old lease can be told apart and refused.
"""

from __future__ import annotations

import math
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from pathors_async import _json
from pathors_async._errors import LeaseLost, StoreError

__all__ = [
    "ConversationStore",
    "Lease",
    "check_key",
    "check_seconds",
    "decode",
    "encode",
    "encode_bytes",
]

#: Longest key accepted, in characters.
MAX_KEY_CHARS: Final = 512


@attrs.frozen(kw_only=True)
class Lease:
    """The right to run one turn of a conversation, until `expires_at`.

    Attributes:
        key: The conversation key.
        token: The fencing token: larger than every token handed out before it
            for this key, so a store can refuse writes made with an older lease.
        expires_at: When the lease ends unless renewed (seconds since the epoch,
            from the store's clock).
        data: The saved conversation, when the lease was taken with
            ``load=True`` (None when there is none or it was not asked for).
    """

    key: str
    token: int
    expires_at: float
    data: dict[str, Any] | None = attrs.field(default=None, repr=False)


@runtime_checkable
class ConversationStore(Protocol):
    """Where conversations live between turns, with a lease per conversation.

    Implement it to keep conversations elsewhere (Postgres, DynamoDB…); the
    README's "Serving many users" shows a Postgres one. Every method may raise
    `StoreError` when the backend fails. Data is ``Conversation.to_dict()``:
    plain JSON-safe dicts.
    """

    async def acquire(self, key: str, *, ttl: float, wait: float, load: bool = False) -> Lease:
        """Take the lease on `key` for `ttl` seconds, waiting up to `wait` seconds for it.

        With ``load=True`` the saved data comes with the lease (``lease.data``), in
        the same transaction or round trip.

        Raises:
            ConversationBusy: Another holder kept the lease for all of `wait`.
        """
        ...

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease to `ttl` seconds from now.

        Raises:
            LeaseLost: The lease was released or another holder took it.
        """
        ...

    async def release(self, lease: Lease) -> None:
        """Give the lease up (nothing happens if it is no longer held)."""
        ...

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the saved data of `key`, or None (no lease needed: a snapshot)."""
        ...

    async def save(
        self, key: str, data: dict[str, Any], lease: Lease, *, release: bool = False
    ) -> None:
        """Save `data` under `key`, fenced by `lease`; with ``release=True`` also release it.

        Raises:
            LeaseLost: Another holder took the lease after `lease` was given:
                nothing was written.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the saved data of `key` (the lease, if any, is left alone)."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections or threads."""
        ...


def check_key(key: object) -> str:
    """Return `key` if it is a usable conversation key.

    Raises:
        TypeError: It is not a str.
        ValueError: It is empty, too long, or holds a NUL character.
    """
    if not isinstance(key, str):
        raise TypeError(f"a conversation key must be a str (e.g. a user id), not {type(key)}")
    if not key or len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise ValueError(
            f"a conversation key must be 1 to {MAX_KEY_CHARS} characters without NUL, "
            f"got {key[:40]!r} ({len(key)} characters)"
        )
    return key


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return `value` as a float number of seconds, refusing what cannot be one.

    Raises:
        TypeError: It is not a number.
        ValueError: It is negative, NaN, infinite, or zero when that is not allowed.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise ValueError(f"{name} must be a finite number of seconds, {least}; got {value!r}")
    return seconds


def check_lease(key: str, lease: Lease) -> None:
    """Refuse a save under `key` made with a lease on another key."""
    if lease.key != key:
        raise ValueError(f"this lease is for {lease.key!r}, not {key!r}; save under its own key")


def encode(data: dict[str, Any]) -> str:
    """Write conversation data as compact JSON text (with orjson when installed).

    Raises:
        TypeError: The data is not JSON-safe (pass ``Conversation.to_dict()``).
    """
    return encode_bytes(data).decode()


def encode_bytes(data: dict[str, Any]) -> bytes:
    """`encode`, as the UTF-8 bytes a network store sends (no round trip through text)."""
    try:
        return _json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"conversation data must be JSON-safe (Conversation.to_dict()): {exc}"
        ) from exc


def decode(key: str, text: str | bytes) -> dict[str, Any]:
    """Read conversation data saved by `encode`.

    Raises:
        StoreError: The record is not a JSON object (it was damaged or written by something else).
    """
    try:
        data = _json.loads(text)
    except ValueError as exc:  # _json.JSONError too (nested too deep)
        data = exc
    if not isinstance(data, dict):
        raise StoreError(
            f"the record saved for conversation {key!r} is not a JSON object; "
            "delete it (conversations.delete(key)) to start that conversation afresh",
            key=key,
        )
    return data


def lease_lost(key: str, token: int) -> LeaseLost:
    """The `LeaseLost` for a stale `token` on `key`."""
    return LeaseLost(
        f"the lease on conversation {key!r} (token {token}) is no longer held: it was released, "
        "or it expired (lock_ttl) and another process took it; nothing was written",
        key=key,
        token=token,
    )
