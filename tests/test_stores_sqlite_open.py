"""Opening a SQLite file another process is writing to: WAL is switched on without failing.

SQLite answers `PRAGMA journal_mode = WAL` with "database is locked" at once, without
waiting out the busy timeout, while another connection holds a write lock on a file still
in rollback mode: several workers opening a new file together hit it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import sqlite3

import pytest

from pathors_async import StoreError
from pathors_async.stores import SQLiteStore


class Seen(logging.Handler):
    """Resolves `future` (from any thread) when a record naming the busy switch arrives."""

    def __init__(self, future: asyncio.Future[None]) -> None:
        super().__init__(logging.DEBUG)
        self.future = future
        self.loop = future.get_loop()

    def emit(self, record: logging.LogRecord) -> None:
        if "WAL" in record.getMessage():
            self.loop.call_soon_threadsafe(self.seen)

    def seen(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


async def test_a_file_another_connection_is_writing_to_is_opened_once_it_is_free(tmp_path):
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")  # a file in rollback mode...
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")  # ...with a write under way
    retrying = asyncio.get_running_loop().create_future()
    handler = Seen(retrying)
    logger = logging.getLogger("pathors_async.stores")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    store = SQLiteStore(path, busy_timeout=30)
    try:
        load = asyncio.ensure_future(store.load("k"))
        await asyncio.wait([load, retrying], return_when=asyncio.FIRST_COMPLETED)
        other.execute("COMMIT")  # the store waits for this, as the busy timeout says
        assert await load is None
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        retrying.cancel()
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        other.close()
        await store.aclose()


def files_open_on(path: pathlib.Path) -> int | None:
    """How many of this process's file descriptors are open on `path` (None: no /proc)."""
    fds = pathlib.Path("/proc/self/fd")
    if not fds.is_dir():
        return None
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


async def test_a_file_locked_past_the_busy_timeout_is_a_store_error(tmp_path):
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    store = SQLiteStore(path, busy_timeout=0.05)
    try:
        opened = []
        for _ in range(3):
            with pytest.raises(StoreError, match="database is locked"):
                await store.load("k")
            opened.append(files_open_on(path))
        # Each failed open closed its connection. (SQLite keeps one closed descriptor
        # while another connection of this process holds a lock, and reuses it.)
        assert opened[0] == opened[1] == opened[2]
    finally:
        other.close()
        await store.aclose()
