"""`SQLiteStore`: conversations in one SQLite file, shared by the processes of one machine.

The stdlib `sqlite3` runs on a daemon thread of the store's own, never on the
event loop. The file is in WAL mode with a busy timeout, so readers never block
and writers queue instead of failing with "database is locked". A turn costs
at most two write transactions: take the lease and read the conversation, then
save it and give the lease up; writes queued together share one transaction
(group commit), each in a savepoint of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import attrs

from pathors_async._errors import StoreError

from ._protocol import Lease, check_key, check_lease, check_seconds, decode, encode, lease_lost
from ._thread import Outcome, WorkerThread, run_each
from ._waiting import Wakeups, acquire_cancel_safe, release_orphan, wait_for_lease

__all__ = ["SQLiteStore"]

T = TypeVar("T")

logger = logging.getLogger("pathors_async.stores")

# How long the store's thread waits before asking for WAL mode again.
WAL_RETRY: Final = 0.01

# One row per conversation, kept when it is deleted (data NULL), so tokens only grow.
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS pathors_conversations (
    key TEXT PRIMARY KEY,
    data TEXT,
    token INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    released INTEGER NOT NULL,
    updated_at REAL
) WITHOUT ROWID;
"""
# Take the lease if it is free: insert the row, or bump its token.
TAKE: Final = """
INSERT INTO pathors_conversations (key, token, expires_at, released) VALUES (?, 1, ?, 0)
ON CONFLICT (key) DO UPDATE SET token = token + 1, expires_at = excluded.expires_at, released = 0
WHERE released = 1 OR expires_at <= ?
"""
# The fenced save: one statement; no row changed means a newer lease was given.
SAVE: Final = """
UPDATE pathors_conversations SET data = ?, updated_at = ?, released = max(released, ?)
WHERE key = ? AND token = ?
"""


class _Write:
    """A call that writes: its batch runs in one ``BEGIN IMMEDIATE`` transaction.

    It must raise, if at all, before its first write (or undo it): a batch has no
    savepoints.
    """

    __slots__ = ("function",)

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function

    def __call__(self) -> Any:  # noqa: ANN401 - whatever the function returns
        return self.function()


def _wal_switched(connection: sqlite3.Connection, *, last_try: bool) -> bool:
    """Ask for WAL mode; False if another writer holds the file (raised on `last_try`)."""
    try:
        connection.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        if last_try or "locked" not in str(exc):
            raise
        return False
    return True


class SQLiteStore:
    """A `ConversationStore` in a SQLite file: the embedded default for one machine.

    Every process (web workers, scripts) that opens the same file shares the
    conversations and their leases. Not for network file systems (NFS, SMB):
    SQLite's locks do not work there; use `RedisStore` across hosts.

    Args:
        path: The database file (created if missing), or ``":memory:"`` for one process.
        busy_timeout: Seconds a write waits for another process's transaction.
        clock: Seconds since the epoch (``time.time``), shared by the processes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        self.busy_timeout = check_seconds("busy_timeout", busy_timeout)
        self._clock = clock
        self._connection: sqlite3.Connection | None = None
        self._thread = WorkerThread(
            f"pathors-sqlite:{pathlib.Path(self.path).name}", run_batch=self._run_batch
        )
        self._wakeups = Wakeups()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # ------------------------------------------------------------ on the thread

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # transactions are ours: one BEGIN IMMEDIATE per batch
                check_same_thread=False,
            )
            try:
                connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                self._switch_to_wal(connection)
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.executescript(SCHEMA)
            except BaseException:
                connection.close()  # the next call opens it afresh
                raise
            self._connection = connection
        return self._connection

    def _switch_to_wal(self, connection: sqlite3.Connection) -> None:
        """Put the file in WAL mode, waiting up to `busy_timeout` for other writers.

        SQLite refuses the switch at once ("database is locked"), without its busy
        handler, while another connection writes to a file still in rollback mode:
        several processes opening a new file together. Tried again until the
        busy timeout has passed, then the error goes to the caller.
        """
        deadline = time.monotonic() + self.busy_timeout
        while not _wal_switched(connection, last_try=time.monotonic() >= deadline):
            logger.debug("%s: another connection is writing; switching to WAL again", self)
            time.sleep(WAL_RETRY)  # on the store's own thread, never the event loop

    def _run_batch(self, calls: Sequence[Callable[[], Any]]) -> list[Outcome]:
        """Run a batch: reads alone as they are; with a write, all in one transaction.

        A call that fails (a refused save, a damaged record) does so before it
        writes anything, so the others' writes stand; if the transaction cannot
        begin or commit, every call of the batch fails with that error and
        nothing is written.
        """
        if not any(isinstance(call, _Write) for call in calls):
            return run_each(calls)
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
        except BaseException as exc:  # noqa: BLE001 - every call gets it
            return [(False, exc)] * len(calls)
        outcomes = run_each(calls)
        try:
            db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every call gets it
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            return [(False, exc)] * len(calls)
        return outcomes

    def _is_free(self, key: str) -> bool:
        row = (
            self._db()
            .execute("SELECT expires_at, released FROM pathors_conversations WHERE key = ?", (key,))
            .fetchone()
        )
        return row is None or bool(row[1]) or row[0] <= self._clock()

    def _take(self, key: str, ttl: float, *, load: bool) -> Lease | None:
        db = self._db()
        now = self._clock()
        if not db.execute(TAKE, (key, now + ttl, now)).rowcount:
            return None
        token, text = db.execute(
            "SELECT token, data FROM pathors_conversations WHERE key = ?", (key,)
        ).fetchone()
        try:
            data = decode(key, text) if load and text is not None else None
        except StoreError:  # a damaged record: give the lease back (a batch has no savepoints)
            self._release(key, token)
            raise
        return Lease(key=key, token=token, expires_at=now + ttl, data=data)

    def _save(self, key: str, text: str, token: int, *, release: bool) -> None:
        changed = self._db().execute(SAVE, (text, self._clock(), int(release), key, token))
        if not changed.rowcount:
            raise lease_lost(key, token)

    def _renew(self, lease: Lease, ttl: float) -> float | None:
        expires_at = self._clock() + ttl
        cursor = self._db().execute(
            "UPDATE pathors_conversations SET expires_at = ? "
            "WHERE key = ? AND token = ? AND released = 0",
            (expires_at, lease.key, lease.token),
        )
        return expires_at if cursor.rowcount else None

    def _release(self, key: str, token: int) -> None:
        self._db().execute(
            "UPDATE pathors_conversations SET released = 1 WHERE key = ? AND token = ?",
            (key, token),
        )

    # ------------------------------------------------------------ async API

    async def _run(
        self,
        key: str | None,
        function: Callable[[], T],
        *,
        write: bool = False,
        orphan: Callable[[T], object] | None = None,
    ) -> T:
        try:
            return await self._thread.run(_Write(function) if write else function, orphan=orphan)
        except sqlite3.Error as exc:
            hint = (
                "another process held a write transaction longer than busy_timeout; raise it"
                if "locked" in str(exc) or "busy" in str(exc)
                else "check the path, its permissions and free disk space"
            )
            raise StoreError(
                f"SQLite store {self.path!r} failed: {exc} ({type(exc).__name__}); {hint}",
                key=key,
            ) from exc

    async def acquire(self, key: str, *, ttl: float, wait: float, load: bool = False) -> Lease:
        """Take the lease on `key` (see `ConversationStore.acquire`): one transaction."""
        check_key(key)
        ttl = check_seconds("ttl", ttl)
        wait = check_seconds("wait", wait, allow_zero=True)

        def take() -> Lease | None:
            return self._take(key, ttl, load=load)

        # The first try is awaited directly (no task): if the caller is cancelled
        # meanwhile, the thread still runs it, and a lease it took is given back.
        lease = await self._run(key, take, write=True, orphan=self._give_back)
        if lease is not None:
            return lease

        async def try_once() -> Lease | None:
            # After a miss, read first, so that waiters do not queue for the write lock.
            if not await self._run(key, lambda: self._is_free(key)):
                return None
            return await self._run(key, take, write=True, orphan=self._give_back)

        return await acquire_cancel_safe(
            wait_for_lease(key, wait, try_once, self._wakeups, missed=True), self.release
        )

    def _give_back(self, lease: Lease | None) -> None:
        release_orphan(lease, self.release)

    async def renew(self, lease: Lease, *, ttl: float) -> Lease:
        """Extend a held lease (see `ConversationStore.renew`)."""
        ttl = check_seconds("ttl", ttl)

        expires_at = await self._run(lease.key, lambda: self._renew(lease, ttl), write=True)
        if expires_at is None:
            raise lease_lost(lease.key, lease.token)
        return attrs.evolve(lease, expires_at=expires_at, data=None)

    async def release(self, lease: Lease) -> None:
        """Give the lease up (see `ConversationStore.release`)."""
        await self._run(lease.key, lambda: self._release(lease.key, lease.token), write=True)
        self._wakeups.notify(lease.key)

    async def load(self, key: str) -> dict[str, Any] | None:
        """Return the saved data of `key`, or None."""
        check_key(key)

        def load() -> dict[str, Any] | None:
            row = (
                self._db()
                .execute("SELECT data FROM pathors_conversations WHERE key = ?", (key,))
                .fetchone()
            )
            return decode(key, row[0]) if row and row[0] is not None else None

        return await self._run(key, load)

    async def save(
        self, key: str, data: dict[str, Any], lease: Lease, *, release: bool = False
    ) -> None:
        """Save `data`, fenced by `lease` (see `ConversationStore.save`): one transaction."""
        check_lease(check_key(key), lease)
        text = encode(data)
        await self._run(
            key, lambda: self._save(key, text, lease.token, release=release), write=True
        )
        if release:
            self._wakeups.notify(key)

    async def delete(self, key: str) -> None:
        """Remove the saved data of `key`."""
        check_key(key)
        await self._run(
            key,
            lambda: self._db().execute(
                "UPDATE pathors_conversations SET data = NULL WHERE key = ?", (key,)
            ),
            write=True,
        )

    async def aclose(self) -> None:
        """Close the connection and end the store's thread; the store cannot be used after."""

        def close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await self._thread.stop(close)
