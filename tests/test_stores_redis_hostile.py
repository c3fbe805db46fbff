"""`RedisStore` against what an independent review found: each test failed before its fix.

A store closed while it connects, a loop that ends in the handshake or changes
while a reply is late, a password written back where the store quotes the
server, replies of the wrong type, an OS-level connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio
import redis.exceptions

from pathors_async import StoreError
from pathors_async.stores import RedisStore

from .test_stores_redis_faults import HANG_GUARD, handshake_then, read_command, resp_server


def _accept_waiting(listener: socket.socket, into: list[socket.socket]) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            into.append(listener.accept()[0])


def _written_so_far(server_side: socket.socket) -> bytes:
    """What the other end has written to `server_side` (it is in the kernel once written)."""
    try:
        return server_side.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


async def _read_to_the_end(server_side: socket.socket) -> bytes:
    loop, received = asyncio.get_running_loop(), b""
    server_side.setblocking(False)
    with contextlib.suppress(ConnectionResetError):
        while data := await loop.sock_recv(server_side, 1 << 20):
            received += data
    return received


async def test_a_store_closed_at_any_point_of_its_connect_writes_nothing_afterwards():
    # Before the fix, on Python < 3.12, wait_for could finish opening the connection after
    # aclose had failed the call, and the call was then written (its lease taken, held).
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        for spins in range(1, 12):  # each point of the connect, from submission to writing
            store = RedisStore(f"redis://:pw@127.0.0.1:{port}/0")  # AUTH: never answered
            call = asyncio.ensure_future(store.acquire("k", ttl=30, wait=0))
            for _ in range(spins):
                await asyncio.sleep(0)
            accepted: list[socket.socket] = []
            _accept_waiting(listener, accepted)
            before = [_written_so_far(server_side) for server_side in accepted]
            await store.aclose()
            with pytest.raises(StoreError, match="closed"):
                await call
            _accept_waiting(listener, accepted)  # a connection begun before aclose
            for index, server_side in enumerate(accepted):
                with server_side:
                    everything = await asyncio.wait_for(_read_to_the_end(server_side), HANG_GUARD)
                assert everything == (before[index] if index < len(before) else b""), spins


def _chain_text(error: BaseException | None) -> str:
    """What an error and every error chained to it show (repr and text)."""
    seen = []
    while error is not None:
        seen.append(f"{error!r} {error}")
        error = error.__cause__ or error.__context__
    return " ".join(seen)


def _close_loops(*loops: asyncio.AbstractEventLoop) -> None:
    """Cancel what still runs on each loop, let it end, and close the loop."""
    for loop in loops:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(_ended(tasks))
        loop.close()


async def _ended(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def test_a_connection_cut_short_in_its_handshake_by_the_loop_ending_is_closed():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        store = RedisStore(f"redis://:pw@127.0.0.1:{port}/0")
        accepted: list[socket.socket] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            listener.setblocking(False)
            call = asyncio.ensure_future(store.load("k"))
            server_side, _ = await loop.sock_accept(listener)
            accepted.append(server_side)
            assert b"AUTH" in await loop.sock_recv(server_side, 1024)  # the store awaits its reply
            call.cancel()  # the caller gives up; the loop ends with the handshake unanswered

        asyncio.run(main())
        server_side = accepted[0]
        try:
            server_side.setblocking(False)
            try:
                data = server_side.recv(1)
            except BlockingIOError:
                data = None  # still open on the store's side
            except ConnectionResetError:
                data = b""  # closed (abruptly)
            assert data == b"", "the store's socket was left open"
        finally:
            server_side.close()
            # What a later asyncio.run does: the store forgets the old loop's connection.
            asyncio.run(store.aclose())


def test_a_reply_on_a_forgotten_connection_never_answers_a_later_call():
    server_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=server_loop.run_forever, daemon=True)
    thread.start()
    writers: list[asyncio.StreamWriter] = []
    got_first = threading.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while (command := await read_command(reader)) is not None:
                key = command[1] if len(command) > 1 else b""
                if b"{first}" in key:
                    got_first.set()  # held: answered when "second" comes
                elif b"{second}" in key:  # answer "first" on ITS connection only
                    writers[0].write(b'$17\r\n{"from": "first"}\r\n')
                else:
                    writer.write(b"_\r\n")

    async def start() -> asyncio.AbstractServer:
        return await asyncio.start_server(serve, "127.0.0.1", 0)

    server = asyncio.run_coroutine_threadsafe(start(), server_loop).result()
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=1", prefix="p:")
    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:

        async def first_call_cancelled() -> None:
            call = asyncio.ensure_future(store.load("first"))
            await asyncio.get_running_loop().run_in_executor(None, got_first.wait, 10)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call

        loop_a.run_until_complete(first_call_cancelled())
        assert loop_b.run_until_complete(store.load("other")) is None
        # no reply for "second" ever comes (before the fix: the reply to "first")
        with pytest.raises(StoreError):
            loop_a.run_until_complete(store.load("second"))
    finally:
        for loop in (loop_a, loop_b):
            loop.run_until_complete(store.aclose())
        _close_loops(loop_a, loop_b)

        async def stop() -> None:
            for writer in writers:
                writer.transport.abort()
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), server_loop).result()
        server_loop.call_soon_threadsafe(server_loop.stop)
        thread.join()
        server_loop.close()


async def test_a_password_the_server_writes_back_is_not_in_context_under_a_python_task():
    def echo_auth(command: list[bytes], _number: int) -> bytes:
        if command[0].upper() != b"AUTH":
            return b"+OK\r\n"
        return b"-ERR you said " + command[1] + b"\r\n"

    async with resp_server(echo_auth) as port:
        store = RedisStore(f"redis://:hunter2@127.0.0.1:{port}/0?socket_timeout=5")
        task = asyncio.tasks._PyTask(store.load("k"))  # what asyncio uses without its C module
        with pytest.raises(StoreError) as info:
            await task
        await store.aclose()
    assert "hunter2" not in _chain_text(info.value)


ASCII = "hunter2pw"
NON_ASCII = "pässwört-hunter2"


def _leaks(error: BaseException, password: str) -> bool:
    forms = {password, repr(password.encode())[2:-1], password.encode().hex()}
    return any(form in _chain_text(error) for form in forms)


async def test_a_non_ascii_password_echoed_in_a_reply_that_is_not_resp():
    def echo(command: list[bytes], _number: int) -> bytes:
        if command[0].upper() == b"AUTH":  # not RESP: quoted by repr in the error
            return b"?" + command[1] + b"\r\n"
        return b"+OK\r\n"

    async with resp_server(echo) as port:
        quoted = urllib.parse.quote(NON_ASCII)
        store = RedisStore(f"redis://:{quoted}@127.0.0.1:{port}/0?socket_timeout=5")
        with pytest.raises(StoreError) as info:
            await store.load("k")
        await store.aclose()
    assert not _leaks(info.value, NON_ASCII), str(info.value)


async def test_a_password_echoed_inside_a_reply_of_the_wrong_shape():
    # any reply is quoted by wrong_reply, which is raised outside RedisStore._call's redaction
    said = f"you said AUTH {ASCII}".encode()
    reply = b"*2\r\n$%d\r\n%b\r\n_\r\n" % (len(said), said)
    async with resp_server(handshake_then(lambda _c, _n: reply)) as port:
        store = RedisStore(f"redis://:{ASCII}@127.0.0.1:{port}/0?socket_timeout=5")
        with pytest.raises(StoreError) as info:
            await store.acquire("k", ttl=30, wait=0)
        await store.aclose()
    assert not _leaks(info.value, ASCII), str(info.value)


@pytest.mark.parametrize("reply", [b":5\r\n", b"*1\r\n$1\r\na\r\n", b"#t\r\n", b",1.5\r\n"])
async def test_load_of_a_reply_not_a_string_is_a_store_error(reply):
    async with resp_server(handshake_then(lambda _c, _n: reply)) as port:
        store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=5")
        with pytest.raises(StoreError):
            await store.load("k")
        await store.aclose()


async def test_an_os_connect_timeout_without_socket_connect_timeout(monkeypatch):
    async def unreachable(*_args: object, **_kwargs: object) -> object:
        raise TimeoutError(errno.ETIMEDOUT, "Connection timed out")  # what connect(2) gives

    monkeypatch.setattr(asyncio, "open_connection", unreachable)
    store = RedisStore("redis://127.0.0.1:9/0?socket_connect_timeout=0")  # 0: no bound
    with pytest.raises(StoreError) as info:
        await store.load("k")
    await store.aclose()
    assert "NoneType" not in str(info.value), str(info.value)
    assert "Connection timed out" in str(info.value), str(info.value)


# ------------------------------------------------ a RESP server on a thread (any loop may use it)


def _read_command_from(rfile: Any) -> list[bytes] | None:
    line = rfile.readline()
    if not line:
        return None
    parts = []
    for _ in range(int(line[1:])):
        size = int(rfile.readline()[1:])
        parts.append(rfile.read(size + 2)[:-2])
    return parts


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        server.connections.append(self.request)
        with contextlib.suppress(OSError, ValueError):
            while (command := _read_command_from(self.rfile)) is not None:
                if b"slow" in b" ".join(command):
                    server.slow_seen.set()
                reply = server.answer(command)
                if reply is not None:
                    self.wfile.write(reply)


class _ThreadedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _slow_never_answered(command: list[bytes]) -> bytes | None:
    if b"slow" in b" ".join(command):
        return None
    return b"$-1\r\n" if command[0].upper() == b"GET" else b"+OK\r\n"


@pytest.fixture
def threaded_resp_server() -> Iterator[Any]:
    """A RESP server on its own thread: keys with "slow" are never answered, GET is nil.

    ``slow_seen`` is set once a "slow" command has come.
    """
    server: Any = _ThreadedServer(("127.0.0.1", 0), _Handler)
    server.connections, server.answer = [], _slow_never_answered
    server.slow_seen = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        for connection in server.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join(5)


def test_a_call_of_the_old_loop_still_times_out(threaded_resp_server):
    port = threaded_resp_server.server_address[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=1", prefix="p:")
    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        slow = loop_a.create_task(store.load("slow"))  # never answered: socket_timeout=1
        seen = loop_a.run_in_executor(None, threaded_resp_server.slow_seen.wait, HANG_GUARD)
        assert loop_a.run_until_complete(seen)  # written, waiting
        assert loop_b.run_until_complete(store.load("fast")) is None  # the store moves to B

        async def wait_slow():
            return await asyncio.wait_for(asyncio.shield(slow), 5)  # 5x socket_timeout

        with pytest.raises(StoreError):  # what socket_timeout promises; actually: hangs
            loop_a.run_until_complete(wait_slow())
    finally:
        loop_b.run_until_complete(store.aclose())
        _close_loops(loop_a, loop_b)


def acquire_answer(command):
    name = command[0].upper()
    if name in (b"EVALSHA", b"EVAL"):
        return b"*2\r\n:1\r\n_\r\n"  # {token 1, no data}
    if name == b"GET":
        return b"$-1\r\n"
    return b"+OK\r\n"


async def test_a_call_after_the_reader_was_cancelled_is_not_refused(threaded_resp_server):
    threaded_resp_server.answer = acquire_answer
    port = threaded_resp_server.server_address[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=2", prefix="p:")
    try:
        assert await store.load("k") is None
        me = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not me]
        for task in others:  # what a shutdown handler does before its own clean-up
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        lease = await store.acquire("k", ttl=30, wait=0)  # StoreError: the connection was closed
        assert lease.token == 1
        assert len(threaded_resp_server.connections) == 2  # no connection dialled and dropped
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    "raised",
    [
        lambda: ConnectionRefusedError(errno.ECONNREFUSED, f"refused, you said {ASCII}"),
        lambda: FileNotFoundError(errno.ENOENT, "No such file", f"/run/{ASCII}.sock"),
    ],
    ids=["strerror", "filename"],
)
@pytest.mark.parametrize("chained", [False, True], ids=["itself", "as-cause"])
async def test_an_os_error_holding_the_password_is_redacted(raised, chained):
    client = redis.asyncio.Redis(host="127.0.0.1", port=9, password=ASCII)

    async def failing(*_args, **_kwargs):
        error = raised()
        if not chained:
            raise error
        raise redis.exceptions.ConnectionError("connecting failed") from error

    client.execute_command = failing
    store = RedisStore(client=client)
    with pytest.raises(StoreError) as info:
        await store.load("k")
    await client.aclose()
    assert ASCII not in _chain_text(info.value), _chain_text(info.value)
