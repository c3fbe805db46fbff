"""How `RedisStore(url)` connects: what each part of the URL does, against real redis-servers.

Each test goes through the public API (`RedisStore`, a call, ``aclose``) to a
redis-server this module starts with the options it needs (a password, ACL
users, a unix socket, TLS), or to a raw RESP server (``resp_server``) where a
real one cannot misbehave as needed. What a URL means is redis-py's reading of
it: where the two could differ, redis-py's own client is asked too.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import shutil
import subprocess
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pathors_async import StoreError
from pathors_async.stores import RedisStore

from .stores_support import RedisServerError, start_redis_server, unique_prefix
from .test_stores_redis_faults import HANG_GUARD, resp_server

PASSWORD = "hunter2-Requirepass"  # the default user's; distinctive, so a leak would show
SECRET = "s3cret-of-Alice"  # the ACL user alice's
WRONG = "Wr0ng-Guess"
DATA = {"format": "pathors_async.conversation", "version": 1, "messages": [], "x": "é"}


class Server(NamedTuple):
    port: int
    directory: pathlib.Path

    @property
    def socket(self) -> pathlib.Path:
        return self.directory / "r.sock"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A redis-server with no password, also on a unix socket (``Server.socket``)."""
    directory = tmp_path_factory.mktemp("plain")
    sock = str(directory / "r.sock")
    with start_redis_server(directory, "--unixsocket", sock, "--unixsocketperm", "700") as port:
        yield Server(port, directory)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A redis-server with ``requirepass`` and two ACL users: alice (`SECRET`), carol (none)."""
    everything = ("~*", "&*", "+@all")
    directory = tmp_path_factory.mktemp("guarded")
    with start_redis_server(
        directory,
        *("--requirepass", PASSWORD),
        *("--user", "alice", "on", f">{SECRET}", *everything),
        *("--user", "carol", "on", "nopass", *everything),
    ) as port:
        yield Server(port, directory)


@pytest.fixture
async def plain_admin(plain: Server) -> AsyncIterator[Redis]:
    async with Redis.from_url(f"redis://127.0.0.1:{plain.port}/0") as client:
        yield client


@pytest.fixture
async def guarded_admin(guarded: Server) -> AsyncIterator[Redis]:
    async with Redis.from_url(f"redis://:{PASSWORD}@127.0.0.1:{guarded.port}/0") as client:
        yield client


def chain_text(error: BaseException) -> str:
    """Everything `error` shows: its repr, and its traceback with its causes and contexts."""
    return repr(error) + "".join(traceback.format_exception(error))


def client_named(clients: list[dict[str, str]], name: str) -> dict[str, str]:
    [client] = [client for client in clients if client["name"] == name]
    return client


async def turn(store: RedisStore, key: str = "k") -> None:
    """Take the lease on `key`, save `DATA` and let go: the scripts, through the connection."""
    lease = await store.acquire(key, ttl=30, wait=5, load=True)
    await store.save(key, DATA, lease, release=True)


async def fails(url: str) -> StoreError:
    """The `StoreError` of a store at `url`'s first call (which must fail)."""
    store = RedisStore(url, prefix=unique_prefix())
    try:
        with pytest.raises(StoreError) as info:
            await asyncio.wait_for(store.load("k"), HANG_GUARD)
    finally:
        await store.aclose()
    return info.value


# ---------------------------------------------------------------- requirepass


async def test_the_right_password_opens_a_server_that_requires_one(guarded):
    store = RedisStore(f"redis://:{PASSWORD}@127.0.0.1:{guarded.port}/0", prefix=unique_prefix())
    await turn(store)
    assert await store.load("k") == DATA
    await store.aclose()


@pytest.mark.parametrize(
    "where",
    [
        f"redis://:{WRONG}@127.0.0.1:{{port}}/0",
        f"redis://127.0.0.1:{{port}}/0?password={WRONG}",
        f"redis://default:{WRONG}@127.0.0.1:{{port}}/0",
    ],
)
async def test_a_wrong_password_is_a_store_error_that_does_not_show_it(guarded, where):
    error = await fails(where.format(port=guarded.port))
    assert "refused AUTH" in str(error)
    assert "WRONGPASS" in str(error)
    assert "check the user name and password in the URL" in str(error)
    assert WRONG not in chain_text(error)


async def test_no_password_for_a_server_that_requires_one_is_a_store_error(guarded):
    error = await fails(f"redis://127.0.0.1:{guarded.port}/0")
    assert "NOAUTH" in str(error)
    assert "check the user name and password in the URL" in str(error)


# ---------------------------------------------------------------- ACL users


async def test_an_acl_user_and_its_password_open_the_server_as_that_user(guarded, guarded_admin):
    name = f"alice-{uuid.uuid4().hex[:8]}"
    url = f"redis://alice:{SECRET}@127.0.0.1:{guarded.port}/0?client_name={name}"
    store = RedisStore(url, prefix=unique_prefix())
    await turn(store)
    assert await store.load("k") == DATA
    assert client_named(await guarded_admin.client_list(), name)["user"] == "alice"
    await store.aclose()


@pytest.mark.parametrize(
    "credentials", [f"bob:{SECRET}", f"alice:{WRONG}", f"{SECRET}:{SECRET}", f"alice:{PASSWORD}"]
)
async def test_a_wrong_user_or_password_is_a_store_error_without_the_secret(guarded, credentials):
    error = await fails(f"redis://{credentials}@127.0.0.1:{guarded.port}/0")
    assert "refused AUTH" in str(error)
    assert "WRONGPASS" in str(error)
    for secret in (SECRET, WRONG, PASSWORD):
        assert secret not in chain_text(error)


async def test_a_user_without_a_password_is_that_user_as_redis_py_makes_it(guarded, guarded_admin):
    # redis-py says AUTH carol "" for redis://carol@...: a user with nopass is that user
    name = f"carol-{uuid.uuid4().hex[:8]}"
    url = f"redis://carol@127.0.0.1:{guarded.port}/0?client_name={name}"
    async with Redis.from_url(url) as redis_py:
        assert await redis_py.ping()
        assert client_named(await guarded_admin.client_list(), name)["user"] == "carol"
    store = RedisStore(url, prefix=unique_prefix())
    await turn(store)
    assert client_named(await guarded_admin.client_list(), name)["user"] == "carol"
    await store.aclose()


# ---------------------------------------------------------------- database, client name


@pytest.mark.parametrize("where", ["/5", "?db=5", "/0?db=5"])
async def test_the_urls_database_is_the_one_written(plain, plain_admin, where):
    store = RedisStore(f"redis://127.0.0.1:{plain.port}{where}", prefix=unique_prefix())
    await turn(store)
    data_key = store._keys("k")[2]
    async with Redis.from_url(f"redis://127.0.0.1:{plain.port}/5") as db5:
        assert await db5.get(data_key) is not None
    assert await plain_admin.exists(data_key) == 0  # not in database 0
    assert await store.load("k") == DATA
    await store.aclose()


async def test_a_database_the_server_does_not_have_is_a_store_error_naming_select(plain):
    error = await fails(f"redis://127.0.0.1:{plain.port}/16")  # it has 16: 0 to 15
    assert "refused SELECT" in str(error)
    assert "DB index is out of range" in str(error)


async def test_the_client_name_is_the_connections_name_on_the_server(plain, plain_admin):
    name = f"xyz-{uuid.uuid4().hex[:8]}"
    store = RedisStore(
        f"redis://127.0.0.1:{plain.port}/3?client_name={name}", prefix=unique_prefix()
    )
    assert await store.load("k") is None
    client = client_named(await plain_admin.client_list(), name)
    assert client["db"] == "3"
    await store.aclose()


# ---------------------------------------------------------------- unix socket


async def test_a_unix_socket_url_connects_through_that_socket(plain, plain_admin):
    name = f"unix-{uuid.uuid4().hex[:8]}"
    store = RedisStore(f"unix://{plain.socket}?db=0&client_name={name}", prefix=unique_prefix())
    await turn(store)
    assert await store.load("k") == DATA
    assert await plain_admin.get(store._keys("k")[2]) is not None  # the same server, database 0
    client = client_named(await plain_admin.client_list(), name)
    assert client["addr"].startswith(str(plain.socket))
    await store.aclose()


# ---------------------------------------------------------------- TLS


#: Why OpenSSL refuses a certificate of a CA it does not trust (its words vary by version).
NOT_TRUSTED = "self.signed certificate|unable to get local issuer certificate"


class TLSServers(NamedTuple):
    ca: pathlib.Path
    port: int  # its certificate names 127.0.0.1 and localhost
    misnamed_port: int  # its certificate names redis.invalid only


def make_certificates(binary: str, directory: pathlib.Path) -> pathlib.Path:
    """A CA and the certificates it signs (``right``, ``misnamed``), by `binary`; the CA's path."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

    def openssl(*args: str) -> None:
        done = subprocess.run(
            [binary, *args],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"openssl {' '.join(args)} failed:\n{done.stderr}"

    openssl(
        *("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"),
        *("-subj", "/CN=pathors test CA", "-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    names = {"right": "IP:127.0.0.1,DNS:localhost", "misnamed": "DNS:redis.invalid"}
    for serial, (server, alt_names) in enumerate(names.items(), start=1):
        (directory / f"{server}.ext").write_text(
            f"subjectAltName={alt_names}\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
        )
        openssl(
            *("req", *key, "-keyout", f"{server}.key", "-out", f"{server}.csr"),
            *("-subj", f"/CN=pathors test {server}"),
        )
        openssl(
            *("x509", "-req", "-in", f"{server}.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
            *("-set_serial", str(serial), "-days", "2", "-out", f"{server}.pem"),
            *("-extfile", f"{server}.ext"),
        )
    return directory / "ca.pem"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServers]:
    """Two redis-servers on TLS only, with certificates of one CA."""
    binary = shutil.which("openssl")
    if binary is None:
        pytest.skip("openssl not found: it makes the certificates of the TLS tests")
    directory = tmp_path_factory.mktemp("tls")
    ca = make_certificates(binary, directory)

    def options(server: str) -> tuple[str, ...]:
        return (
            *("--tls-cert-file", str(directory / f"{server}.pem")),
            *("--tls-key-file", str(directory / f"{server}.key")),
            *("--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"),
        )

    try:
        with (
            start_redis_server(directory, *options("right"), tls_ca=ca) as port,
            start_redis_server(directory, *options("misnamed"), tls_ca=ca) as misnamed_port,
        ):
            yield TLSServers(ca, port, misnamed_port)
    except RedisServerError as exc:
        if "tls" in str(exc).lower():
            pytest.skip(f"this redis-server refuses TLS (built without it?): {exc}")
        raise


@pytest.mark.parametrize(
    ("server", "host", "query"),
    [
        ("right", "localhost", "ssl_ca_certs={ca}"),
        ("right", "127.0.0.1", "ssl_ca_certs={ca}"),
        ("right", "127.0.0.1", "ssl_cert_reqs=none"),  # nothing checked
        ("right", "127.0.0.1", "ssl_ca_certs={ca}&ssl_check_hostname=true"),
        ("misnamed", "127.0.0.1", "ssl_ca_certs={ca}&ssl_check_hostname=false"),
        ("misnamed", "127.0.0.1", "ssl_cert_reqs=none"),
    ],
)
async def test_tls_connects_when_the_certificate_is_checked_as_the_url_says(
    tls, server, host, query
):
    port = tls.port if server == "right" else tls.misnamed_port
    url = f"rediss://{host}:{port}/0?" + query.format(ca=tls.ca)
    async with Redis.from_url(url) as redis_py:  # redis-py reads the URL so too
        assert await redis_py.ping()
    store = RedisStore(url, prefix=unique_prefix())
    await turn(store)
    assert await store.load("k") == DATA
    await store.aclose()


@pytest.mark.parametrize(
    ("server", "query", "why"),
    [
        ("right", "", NOT_TRUSTED),  # the default: required, against the system's CAs only
        ("right", "ssl_cert_reqs=required", NOT_TRUSTED),
        ("misnamed", "ssl_ca_certs={ca}", "mismatch"),  # names are checked by default
    ],
)
async def test_tls_refuses_a_certificate_the_url_does_not_accept(tls, server, query, why):
    port = tls.port if server == "right" else tls.misnamed_port
    url = f"rediss://127.0.0.1:{port}/0?" + query.format(ca=tls.ca)
    async with Redis.from_url(url) as redis_py:  # redis-py refuses it too
        with pytest.raises(RedisError, match=why):
            await redis_py.ping()
    error = await fails(url)
    assert "certificate verify failed" in str(error)
    assert re.search(why, str(error))


# ---------------------------------------------------------------- the handshake, on raw servers


async def test_a_handshake_never_answered_fails_after_socket_connect_timeout():
    asked = asyncio.Event()

    def silent(command: list[bytes], _number: int) -> None:
        if command[0] == b"AUTH":
            asked.set()

    async with resp_server(silent) as port:
        started = time.monotonic()
        error = await fails(
            f"redis://:{PASSWORD}@127.0.0.1:{port}/0?socket_connect_timeout=0.2&socket_timeout=5"
        )
        assert time.monotonic() - started < 5  # bounded by the connect timeout, not socket_timeout
        await asyncio.wait_for(asked.wait(), HANG_GUARD)  # what went unanswered: the AUTH
    assert "socket_connect_timeout" in str(error)
    assert "TimeoutError" in str(error)
    assert PASSWORD not in chain_text(error)


async def test_a_select_the_server_refuses_is_a_store_error_naming_select():
    def refuse_select(command: list[bytes], _number: int) -> bytes:
        if command[0] == b"SELECT":
            return b"-ERR DB index is out of range\r\n"
        return b"+OK\r\n"

    async with resp_server(refuse_select) as port:
        error = await fails(f"redis://:{PASSWORD}@127.0.0.1:{port}/5?socket_timeout=5")
    assert "refused SELECT: ERR DB index is out of range" in str(error)
    assert PASSWORD not in chain_text(error)


@pytest.mark.parametrize(
    ("where", "handshake"),
    [
        ("/0", []),
        ("/0?protocol=3", []),  # the replies stay RESP2: no HELLO
        (f"/0?password={WRONG}", [[b"AUTH", WRONG.encode()]]),
        ("/0?client_name=n", [[b"CLIENT", b"SETNAME", b"n"]]),
        ("/7", [[b"SELECT", b"7"]]),
        ("/0?username=carol", [[b"AUTH", b"carol", b""]]),  # as redis-py says it
        (
            f"/2?username=alice&password={SECRET}&client_name=n",
            [
                [b"AUTH", b"alice", SECRET.encode()],
                [b"CLIENT", b"SETNAME", b"n"],
                [b"SELECT", b"2"],
            ],
        ),
    ],
)
async def test_the_handshake_says_what_the_url_needs_and_nothing_else(where, handshake):
    heard: list[list[bytes]] = []

    def record(command: list[bytes], _number: int) -> bytes:
        heard.append(command)
        return b"$-1\r\n" if command[0] == b"GET" else b"+OK\r\n"

    async with resp_server(record) as port:
        store = RedisStore(f"redis://127.0.0.1:{port}{where}", prefix="p:")
        assert await asyncio.wait_for(store.load("k"), HANG_GUARD) is None
        await store.aclose()
    assert heard == [*handshake, [b"GET", b"p:{k}:data"]]


@pytest.mark.parametrize(
    ("query", "said"),
    [("ssl_ca_certs=/nowhere/ca.pem", "No such file"), ("ssl_cert_reqs=bogus", "bogus")],
)
async def test_tls_settings_that_cannot_work_are_a_store_error_on_first_use(query, said):
    store = RedisStore(f"rediss://127.0.0.1:1/0?{query}")  # as redis-py: the URL is read later
    with pytest.raises(StoreError, match=said):
        await store.load("k")
    await store.aclose()
