"""A `RateLimit` budget kept in Redis: the GCRA of `pathors_async._ratelimit`, as Lua.

Two keys under the store's prefix ``P``: ``P{rate-limit}:tat`` (the theoretical
arrival time) and ``P{rate-limit}:paused`` (no slot before it, set by a 429's
``Retry-After``). Times are the Redis server's clock (``TIME``), in
microseconds, so processes on hosts whose clocks differ still share one
budget; each script is one atomic round trip and answers with the wait.
"""

from __future__ import annotations

from typing import Final

from ._redis_wire import Caller, LuaScript, wrong_reply

__all__ = ["RedisRateLimit"]

_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

#: KEYS: tat, paused; ARGV: interval, tolerance (µs), recheck (0/1). Returns the wait in µs.
RESERVE: Final = LuaScript(
    repeatable=False,
    keys=2,
    args=3,
    source=_NOW
    + """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > 0 and now >= paused + tolerance then paused = 0 end
if ARGV[3] == '1' and paused <= now then return 0 end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > 0 then tat = math.max(tat, paused + tolerance) end
local at = math.max(now, tat - tolerance, paused)
if interval > 0 then
    local next_tat = math.max(tat, now) + interval
    local keep = math.ceil((next_tat - now) / 1000) + 1000
    redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', keep)
end
return at - now
""",
)

#: KEYS: paused; ARGV: seconds (µs), tolerance (µs). A longer pause already set stays.
PAUSE: Final = LuaScript(
    keys=1,
    args=2,
    source=_NOW
    + """
local until_ = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > paused then
    local keep = math.ceil((until_ + tonumber(ARGV[2]) - now) / 1000) + 1000
    redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', keep)
end
return 1
""",
)


def _micros(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


class RedisRateLimit:
    """The budget's two scripts, bound to the store's connections and key prefix.

    Args:
        redis: The store's way to Redis.
        prefix: The store's key prefix (processes share a budget by sharing it).
    """

    def __init__(self, redis: Caller, prefix: str) -> None:
        base = f"{prefix}{{rate-limit}}".encode()
        self.keys = (base + b":tat", base + b":paused")
        self._redis = redis

    async def reserve(self, *, interval: float, tolerance: float, recheck: bool) -> float:
        """Take the next slot; return the seconds to wait for it (see `GcraState.reserve`)."""
        args = (_micros(interval), _micros(tolerance), int(recheck))
        wait = await self._redis.script(RESERVE, self.keys, args)
        if not isinstance(wait, int) or isinstance(wait, bool):
            raise wrong_reply("the rate-limit reserve", wait, key=self.keys[0].decode())
        return max(0, wait) / 1_000_000

    async def pause(self, seconds: float, *, tolerance: float) -> None:
        """Let no slot fall for `seconds` (see `GcraState.pause`)."""
        args = (_micros(seconds), _micros(tolerance))
        await self._redis.script(PAUSE, self.keys[1:], args)
