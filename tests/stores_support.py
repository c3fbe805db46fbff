"""What the store tests share: a real redis-server, store factories, the worker process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from pathors_async import ConversationBusy
from pathors_async.stores import ConversationStore, MemoryStore, RedisStore, SQLiteStore

REPO = pathlib.Path(__file__).parent.parent
INSTALL_HINT = (
    "redis-server not found: install it (Debian/Ubuntu: apt-get install -y redis-server; "
    "macOS: brew install redis), or run .ci/run / make test as root, which installs it"
)
READY_LINES = 200  # redis-server prints a banner of a few dozen lines before it is ready


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ping(port: int, tls_ca: pathlib.Path | None) -> bool:
    """Whether a Redis answers on `port` (an answer that asks for a password counts)."""
    try:
        with contextlib.ExitStack() as stack:
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", port), 2))
            if tls_ca is not None:  # any name: the server's certificate is not checked here
                context = ssl.create_default_context(cafile=tls_ca)
                context.check_hostname = False
                connection = stack.enter_context(context.wrap_socket(connection))
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServerError(Exception):
    """redis-server did not start; the message ends with what it printed."""


@contextlib.contextmanager
def start_redis_server(
    directory: pathlib.Path, *extra: str, tls_ca: pathlib.Path | None = None
) -> Iterator[int]:
    """A real redis-server on a free loopback port, in `directory`; its port.

    Args:
        directory: Its working directory.
        extra: More arguments for it (``"--requirepass", "pw"``...).
        tls_ca: With TLS: the CA of the certificate that `extra` names; the port is
            then its TLS port, and plain TCP is off.

    Raises:
        RedisServerError: It did not start on any of 5 free ports.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(INSTALL_HINT)
    log: list[str] = []
    for _ in range(5):  # another process may take the free port first: try another
        port = _free_port()
        ports = ("--port", "0", "--tls-port", str(port)) if tls_ca else ("--port", str(port))
        process = subprocess.Popen(
            [
                *(binary, *ports, "--bind", "127.0.0.1", "--dir", str(directory)),
                *("--save", "", "--appendonly", "no", "--protected-mode", "yes", *extra),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        ready = False
        log = []
        for _line_number, line in zip(range(READY_LINES), process.stdout, strict=False):
            log.append(line)
            if "Ready to accept connections" in line:
                ready = True
                break
        if ready and _ping(port, tls_ca):
            break
        process.kill()
        process.wait()
        process.stdout.close()
    else:
        said = "".join(log[-10:])
        raise RedisServerError(f"redis-server did not start on any of 5 free ports:\n{said}")
    # keep reading its log, so that a full pipe never blocks it
    drain = threading.Thread(target=process.stdout.read, daemon=True)
    drain.start()
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        drain.join(timeout=30)
        process.stdout.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, in a temporary directory; its URL."""
    try:
        with start_redis_server(tmp_path_factory.mktemp("redis")) as port:
            yield f"redis://127.0.0.1:{port}/0"
    except RedisServerError as exc:
        pytest.fail(str(exc))


def unique_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


def make_store(spec: str) -> MemoryStore | SQLiteStore | RedisStore:
    """A store from ``memory``, ``sqlite:PATH`` or ``redis:URL|PREFIX``."""
    kind, _, where = spec.partition(":")
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(where)
    url, _, prefix = where.partition("|")
    return RedisStore(url, prefix=prefix)


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHORS_")}
    env["PATHORS_BASE_URL"] = "http://127.0.0.1:9"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


WORKER = [sys.executable, "-W", "error", "-m", "tests.store_worker"]


async def is_free(store: ConversationStore, key: str, *, wait: float = 0) -> bool:
    """Whether the lease on `key` can be taken within `wait` seconds (then it is released)."""
    try:
        lease = await store.acquire(key, ttl=5, wait=wait)
    except ConversationBusy:
        return False
    await store.release(lease)
    return True


async def cancel_while_redis_holds_it(admin: Any, call: Awaitable[object]) -> None:
    """Run `call` and cancel it once the server holds it (``CLIENT PAUSE``), by asking it.

    The server runs the call when the pause ends, its caller gone.
    """
    await admin.client_pause(10_000, all=False)  # write commands (and scripts) wait
    try:
        caller = asyncio.ensure_future(call)
        while (await admin.info("clients"))["blocked_clients"] == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polls the server's own state, not a guess at timing
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
    finally:
        await admin.client_unpause()
