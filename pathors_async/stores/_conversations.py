"""`Conversations`: one turn at a time per conversation, across every process sharing a store.

Each turn: take the conversation's lease (with its saved data), run the agent,
save the transcript and give the lease up. The lease is renewed in the
background while the run lasts. Whatever ends the run (an answer, an error,
``max_turns``, cancellation), the transcript is saved and the lease released,
in a task that a cancellation of the caller cannot interrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from pathors_async._conversation import Conversation, HistoryMode
from pathors_async._converter import to_messages
from pathors_async._errors import LeaseLost, PathorsError, StoreError
from pathors_async._ids import LONE_SURROGATES
from pathors_async._models import Message

from ._protocol import ConversationStore, Lease, check_key, check_seconds

if TYPE_CHECKING:
    from pathors_async import Agent, AgentRun, RunResult

__all__ = ["Conversations"]

logger = logging.getLogger("pathors_async.stores")

#: How many conversations a `Conversations` keeps after their turn (the most recent)...
RECENT: Final = 256
#: ...if they hold this many messages: shorter ones cost less to build again than to keep.
KEEP_FROM: Final = 16
_MESSAGE_ONLY: Final = frozenset({Message})

_M = TypeVar("_M")  # what the user passed as a message


@attrs.define
class _Turn:
    """One leased turn: the lease, the conversation, and what it looked like when loaded.

    Renewal starts as a timer; only a run that outlives a third of the ttl gets a
    renewing task, so short turns cost no extra task.
    """

    lease: Lease
    conversation: Conversation
    loaded: dict[str, Any] | None
    timer: asyncio.TimerHandle | None = None
    renewer: asyncio.Task[None] | None = None
    done: bool = False

    def stop_renewing(self) -> None:
        """Stop renewing the lease (a renewal under way is fenced and harmless)."""
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        if self.renewer is not None:
            self.renewer.cancel()


class Conversations:
    """Conversations kept in a `ConversationStore`, one turn at a time per key.

    Make one per agent and store (``agent.conversations(store)``) and share it
    between requests; `send` and `stream` may be called concurrently, for the
    same key or different keys, from any number of processes sharing the store.

    The last few hundred conversations it saved (of 16 messages or more) stay
    in memory: when the store still holds exactly what was saved, the next turn
    of that conversation takes it from there instead of building every message
    again from the data.

    Args:
        agent: The `Agent` that answers.
        store: Where conversations and their leases live.
        history: The `Conversation` history mode for new conversations.
        lock_ttl: Seconds a lease lasts unless renewed (it is renewed every
            third of that while a run lasts); after a crash, the conversation
            is free again after at most this long.
        lock_wait: Seconds a turn waits for the lease before `ConversationBusy`.

    Raises:
        ValueError, TypeError: An option is out of range.
    """

    def __init__(
        self,
        agent: Agent,
        store: ConversationStore,
        *,
        history: HistoryMode = "full",
        lock_ttl: float = 60,
        lock_wait: float = 30,
    ) -> None:
        if history not in ("full", "server"):
            raise ValueError(f"history must be 'full' or 'server', got {history!r}")
        if not isinstance(store, ConversationStore):
            raise TypeError(
                f"store must be a ConversationStore (MemoryStore, SQLiteStore, RedisStore…), "
                f"not {type(store).__name__}"
            )
        self.agent = agent
        self.store = store
        self.history: HistoryMode = history
        self.lock_ttl = check_seconds("lock_ttl", lock_ttl)
        self.lock_wait = check_seconds("lock_wait", lock_wait, allow_zero=True)
        self._finishing: set[asyncio.Task[None]] = set()
        # key -> (the data saved, the conversation it came from), most recent last; an
        # OrderedDict, as a dict slows down when its oldest items are removed one by one
        self._recent: OrderedDict[str, tuple[dict[str, Any], Conversation]] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"Conversations({self.store!r}, lock_ttl={self.lock_ttl:g}, "
            f"lock_wait={self.lock_wait:g})"
        )

    # ------------------------------------------------------------ public API

    async def send(
        self,
        key: str,
        message: str | Message | Mapping[str, Any] | None,
        *,
        deps: Any = None,  # noqa: ANN401 - the caller's own type
    ) -> RunResult:
        """Send the user's message in conversation `key` and run the agent until it answers.

        Args:
            key: The conversation (e.g. the end user's id).
            message: The user's text, `Message` or message dict (as for
                `Conversation.send`); None resumes a failed turn
                (`Conversation.resume`) without sending anything new (a
                `ValueError` if the last turn was answered).
            deps: Handed to tools through `ToolContext.deps`.

        Returns:
            The run's result.

        Raises:
            ConversationBusy: Another turn of `key` held the lease for all of `lock_wait`.
            LeaseLost: The run outlived its lease and another process took the
                conversation: nothing was saved; ``.messages`` holds this run's transcript.
            StoreError: The store failed or holds a damaged record for `key`.
            ValueError: The message holds a lone surrogate (text UTF-8 cannot
                encode), refused before the lease is taken: nothing is sent or saved.
            APIError, MaxTurnsExceeded: As for `Conversation.send`; the transcript,
                the user's message included, is saved first.
        """
        if message is not None:
            message = _sendable(key, message)
        turn = await self._begin(key)
        try:
            if message is None:
                _check_resumable(key, turn.conversation)
                result = await turn.conversation.resume(deps=deps)
            else:
                result = await turn.conversation.send(message, deps=deps)
        except BaseException as exc:
            await self._finish(turn, error=exc)
            raise
        await self._finish(turn, error=None)
        return result

    @contextlib.asynccontextmanager
    async def stream(
        self,
        key: str,
        message: str | Message | Mapping[str, Any] | None,
        *,
        deps: Any = None,  # noqa: ANN401 - the caller's own type
    ) -> AsyncIterator[AgentRun]:
        """Like `send`, streamed: ``async with conversations.stream(key, "hi") as run:``.

        Iterate ``run`` for the events; leaving the block (at the end, on break,
        on an error, on cancellation) stops the run, saves the transcript and
        releases the lease. Raises as `send` does; `message` may not be None
        (resume with `send`).

        Yields:
            The `AgentRun`.
        """
        if message is None:
            raise ValueError(
                "stream() needs the user's message; resume a failed turn with send(key, None)"
            )
        message = _sendable(key, message)
        turn = await self._begin(key)
        try:
            async with turn.conversation.stream(message, deps=deps) as run:
                yield run
        except BaseException as exc:
            await self._finish(turn, error=exc)
            raise
        await self._finish(turn, error=None)

    async def load(self, key: str) -> Conversation | None:
        """Return a snapshot of conversation `key`, or None (no lease is taken).

        Raises:
            StoreError: The store failed, or its record for `key` is not a conversation.
        """
        return self._restore(key, await self.store.load(check_key(key)))

    async def delete(self, key: str) -> None:
        """Forget conversation `key`, after any turn of it under way has finished.

        Raises:
            ConversationBusy: A turn held the lease for all of `lock_wait`.
            StoreError: The store failed.
        """
        lease = await self.store.acquire(check_key(key), ttl=self.lock_ttl, wait=self.lock_wait)
        self._recent.pop(key, None)
        try:
            await self.store.delete(key)
        finally:
            await asyncio.shield(self.store.release(lease))

    async def aclose(self) -> None:
        """Wait for saves still under way after cancelled turns (the store stays open)."""
        while self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    # ------------------------------------------------------------ a turn

    def _restore(self, key: str, data: dict[str, Any] | None) -> Conversation | None:
        if data is None:
            return None
        try:
            return Conversation.from_dict(data, agent=self.agent)
        except (ValueError, TypeError, PathorsError) as exc:
            raise StoreError(
                f"the record saved for conversation {key!r} is not a conversation ({exc}); "
                "delete it (conversations.delete(key)) to start that conversation afresh",
                key=key,
            ) from exc

    async def _begin(self, key: str) -> _Turn:
        lease = await self.store.acquire(
            check_key(key), ttl=self.lock_ttl, wait=self.lock_wait, load=True
        )
        recent = self._recent.pop(key, None)
        try:
            if recent is not None and lease.data is not None and lease.data == recent[0]:
                conversation = recent[1]  # the store holds what this process saved last
            else:
                conversation = self._restore(key, lease.data) or Conversation(
                    self.agent, history=self.history
                )
        except BaseException:
            await asyncio.shield(self.store.release(lease))
            raise
        turn = _Turn(lease=lease, conversation=conversation, loaded=lease.data)
        turn.timer = asyncio.get_running_loop().call_later(
            self.lock_ttl / 3, self._start_renewing, turn
        )
        return turn

    def _start_renewing(self, turn: _Turn) -> None:
        if not turn.done:
            turn.renewer = asyncio.ensure_future(self._renew(turn))

    async def _renew(self, turn: _Turn) -> None:
        """Keep the lease while the run lasts: renew it every third of `lock_ttl`."""
        while not turn.done:
            try:
                turn.lease = await self.store.renew(turn.lease, ttl=self.lock_ttl)
            except LeaseLost as exc:
                if not turn.done:
                    logger.warning("conversation %r: %s", turn.lease.key, exc)
                return
            except StoreError as exc:  # try again next time; the lease may still hold
                logger.warning(
                    "conversation %r: renewing the lease failed: %s", turn.lease.key, exc
                )
            await asyncio.sleep(self.lock_ttl / 3)

    async def _finish(self, turn: _Turn, *, error: BaseException | None) -> None:
        """Save the transcript and release the lease, whatever cancellation says.

        The data is taken before any await. If the caller is cancelled during the
        save (an anyio cancel scope cancels every await after it), the save is
        done again in a task the cancellation cannot reach: a fenced save and a
        release are safe to repeat. `aclose` waits for such tasks.
        """
        turn.stop_renewing()
        saved = turn.conversation.to_dict()
        data: dict[str, Any] | None = saved
        if saved == turn.loaded or (turn.loaded is None and not turn.conversation.messages):
            data = None  # nothing changed: only release
        try:
            await self._save(turn, data)
        except asyncio.CancelledError:
            task = asyncio.ensure_future(self._save(turn, data))
            self._finishing.add(task)
            task.add_done_callback(functools.partial(self._finished, turn.lease.key))
            raise
        except LeaseLost as exc:
            exc.messages = turn.conversation.messages
            if error is None or isinstance(error, Exception):
                raise exc from error
            # A cancellation or exit goes on as it was; the loss is logged.
            logger.warning("conversation %r: %s", turn.lease.key, exc)
        except Exception as exc:  # the store failed: the transcript goes with the error
            failure = _save_failure(turn, exc)
            if error is None or isinstance(error, Exception):
                if failure is exc:
                    raise
                raise failure from exc
            logger.warning("conversation %r: %s", turn.lease.key, failure)
        else:
            store_holds_it = turn.loaded is not None or data is not None
            if store_holds_it and (error is None or isinstance(error, Exception)):
                self._remember(turn.lease.key, saved, turn.conversation)

    def _remember(self, key: str, saved: dict[str, Any], conversation: Conversation) -> None:
        """Keep `conversation` for the next turn of `key`, as long as the store holds `saved`.

        Only when `from_dict` would give back the very same messages: a
        `ToolResult` comes back from the data as a plain `Message`.
        """
        messages = conversation.messages
        if len(messages) < KEEP_FROM or not set(map(type, messages)) <= _MESSAGE_ONLY:
            return
        self._recent[key] = (saved, conversation)
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    async def _save(self, turn: _Turn, data: dict[str, Any] | None) -> None:
        """Save and release; if the save fails, release anyway (best-effort) and raise."""
        if data is None:
            await self.store.release(turn.lease)
            return
        try:
            await self.store.save(turn.lease.key, data, turn.lease, release=True)
        except LeaseLost:
            raise  # the lease is someone else's now
        except Exception:
            await self._release_quietly(turn.lease)
            raise

    async def _release_quietly(self, lease: Lease) -> None:
        """Release `lease` after a failed save; a failure here is logged, not raised."""
        try:
            await self.store.release(lease)
        except Exception as exc:  # noqa: BLE001 - the save's error is the one to raise
            logger.warning(
                "conversation %r: releasing the lease after a failed save failed too "
                "(it frees itself after lock_ttl): %s",
                lease.key,
                exc,
            )

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._finishing.discard(task)
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, LeaseLost):  # the first save may have gone through, then released
            logger.warning(
                "conversation %r: the save repeated after a cancelled turn found the lease "
                "given up (token %s): the save before it may already have been written and "
                "the lease released, or the lease expired (lock_ttl) and another turn took it",
                key,
                exc.token,
            )
        elif exc is not None:  # nobody awaits this task: say it here
            logger.warning("conversation %r: saving after a cancelled turn failed: %s", key, exc)


def _save_failure(turn: _Turn, exc: Exception) -> PathorsError:
    """The error to raise for a failed save, carrying the turn's transcript."""
    failure = (
        exc
        if isinstance(exc, PathorsError)
        else StoreError(
            f"saving conversation {turn.lease.key!r} failed: {type(exc).__name__}: {exc}; "
            "this turn was not saved; its transcript is in the error's .messages",
            key=turn.lease.key,
        )
    )
    failure.messages = turn.conversation.messages
    return failure


def _sendable(key: str, message: _M) -> _M | Message:
    """`message`, or refused if it could be neither sent nor saved, before any lease is taken.

    A message dict is checked as `Conversation.send` checks it and comes back as
    the `Message` to send; anything else but text or a `Message` comes back as it
    is, for `Conversation.send` to refuse.

    Raises:
        ValueError: Its text holds a lone surrogate (which UTF-8 cannot encode),
            or a message dict is not a valid message.
        TypeError: A message dict's fields have the wrong types.
    """
    if isinstance(message, Mapping):
        return _sendable(key, to_messages([message])[0])
    if isinstance(message, str):
        fields: list[tuple[str, str | None]] = [("text", message)]
    elif isinstance(message, Message):
        fields = [
            ("content", message.content),
            ("name", message.name),
            ("tool_call_id", message.tool_call_id),
        ]
        for call in message.tool_calls or ():
            fields += [("tool call id", call.id), ("tool call", call.function.name)]
            fields.append(("tool call arguments", call.function.arguments))
    else:
        return message
    for field, text in fields:
        found = LONE_SURROGATES.search(text) if isinstance(text, str) else None
        if found is not None:
            raise ValueError(
                f"the {field} of the message for conversation {key!r} holds text that is not "
                f"valid Unicode ({found.group()!r}, a lone surrogate); nothing was sent or "
                "saved; replace it, e.g. with text.encode('utf-8', 'replace').decode()"
            )
    return message


def _check_resumable(key: str, conversation: Conversation) -> None:
    """Refuse to resume a turn that was answered (it would bill a request for nothing).

    Raises:
        ValueError: The last turn of `key` was answered.
    """
    if conversation.answered:
        raise ValueError(
            f"nothing to resume: the last turn of {key!r} was answered; send a message"
        )
