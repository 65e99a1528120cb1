"""A startup-filtering TCP proxy so redshift-connector can talk to vanilla PostgreSQL.

Test and local infrastructure only: it never runs in AWS.

redshift-connector is the driver the Lambda functions use against Redshift Serverless. The
tests and the local demo run the same code path against PostgreSQL, but the driver cannot open
a session there as is:

* its StartupMessage carries parameters PostgreSQL does not know (``client_protocol_version``
  and friends), which PostgreSQL rejects with FATAL "unrecognized configuration parameter";
* it parses the ``server_version`` ParameterStatus with ``packaging.version``, which fails on
  distribution strings such as ``15.8 (Debian 15.8-1.pgdg120+1)``.

The proxy listens on 127.0.0.1 (an ephemeral port) and, per client connection, opens one
upstream connection (a unix socket or TCP), answers SSLRequest/GSSENCRequest with ``N``,
rewrites the StartupMessage keeping only :data:`STARTUP_PARAMETERS`, and rewrites
``server_version`` to its plain ``MAJOR.MINOR`` form. After the first ReadyForQuery it copies
bytes verbatim in both directions.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass

_log = logging.getLogger(__name__)

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 196608

# Startup parameters PostgreSQL accepts from this driver; anything else is dropped.
STARTUP_PARAMETERS = frozenset(
    {
        "user",
        "database",
        "options",
        "application_name",
        "client_encoding",
        "datestyle",
        "timezone",
        "extra_float_digits",
        "search_path",
    }
)
_PLAIN_VERSION = re.compile(rb"^(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class Upstream:
    """Where the real server listens: a unix socket path, or a TCP host and port."""

    unix_socket: str | None = None
    host: str | None = None
    port: int | None = None

    def connect(self) -> socket.socket:
        if self.unix_socket is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.unix_socket)
            return sock
        if self.host is None or self.port is None:
            raise ValueError("an upstream needs a unix socket or a host and port")
        return socket.create_connection((self.host, self.port))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks += chunk
    return bytes(chunks)


def filter_startup(payload: bytes) -> tuple[bytes, list[str]]:
    """Rewrite a StartupMessage body (after the length), returning it and the dropped keys."""
    (protocol,) = struct.unpack("!i", payload[:4])
    fields = payload[4:].split(b"\x00")
    kept = bytearray(struct.pack("!i", protocol))
    dropped: list[str] = []
    for key, value in zip(fields[0::2], fields[1::2], strict=False):
        if not key:
            break
        if key.decode().lower() in STARTUP_PARAMETERS:
            kept += key + b"\x00" + value + b"\x00"
        else:
            dropped.append(key.decode())
    kept += b"\x00"
    return bytes(kept), dropped


def plain_server_version(message_body: bytes) -> bytes:
    """The body of a ParameterStatus message with ``server_version`` reduced to digits and dots."""
    key, value, _ = message_body.split(b"\x00", 2)
    if key != b"server_version":
        return message_body
    match = _PLAIN_VERSION.match(value)
    plain = match.group(1) if match else value
    return key + b"\x00" + plain + b"\x00"


def _no_delay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Session(socketserver.BaseRequestHandler):
    """One client connection: startup rewriting, then a verbatim two-way copy."""

    server: _ProxyServer

    def handle(self) -> None:
        client: socket.socket = self.request
        # PostgreSQL replies in several small writes: without TCP_NODELAY each round trip waits
        # on Nagle and the client's delayed ACK (~40 ms), which made the tests and benchmarks crawl.
        _no_delay(client)
        try:
            payload = self._read_startup(client)
            if payload is None:
                return
            upstream = self.server.upstream.connect()
            _no_delay(upstream)
        except OSError as exc:  # server stopped, client vanished: close this session only
            _log.debug("proxy session ended during startup: %s", exc)
            return
        with upstream:
            try:
                upstream.sendall(struct.pack("!i", len(payload) + 4) + payload)
                if struct.unpack("!i", payload[:4])[0] == CANCEL_REQUEST:
                    return
                pump = threading.Thread(target=_copy, args=(client, upstream), daemon=True)
                pump.start()
                self._relay_until_ready(upstream, client)
                _copy(upstream, client)
                pump.join()
            except OSError as exc:
                _log.debug("proxy session ended: %s", exc)

    def _read_startup(self, client: socket.socket) -> bytes | None:
        """Answer encryption requests with 'N'; return the filtered startup (or cancel) payload."""
        while True:
            (length,) = struct.unpack("!i", _recv_exact(client, 4))
            payload = _recv_exact(client, length - 4)
            (code,) = struct.unpack("!i", payload[:4])
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                client.sendall(b"N")
                continue
            if code == CANCEL_REQUEST:
                return payload
            if code != PROTOCOL_3:
                return None
            filtered, dropped = filter_startup(payload)
            if dropped:
                _log.debug("proxy dropped startup parameters %s", dropped)
            return filtered

    @staticmethod
    def _relay_until_ready(upstream: socket.socket, client: socket.socket) -> None:
        """Copy server messages one by one, fixing server_version, up to the first ReadyForQuery."""
        while True:
            header = _recv_exact(upstream, 5)
            kind, length = header[:1], struct.unpack("!i", header[1:])[0]
            body = _recv_exact(upstream, length - 4)
            if kind == b"S":
                body = plain_server_version(body)
                header = kind + struct.pack("!i", len(body) + 4)
            client.sendall(header + body)
            if kind in (b"Z", b"E"):
                return


def _copy(src: socket.socket, dst: socket.socket) -> None:
    """Copy until either side closes, then close the write side of the other."""
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (dst, src):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: Upstream) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.upstream = upstream


class StartupFilterProxy:
    """Listens on 127.0.0.1:<port> and forwards to ``upstream``; a context manager."""

    def __init__(self, upstream: Upstream) -> None:
        self._server = _ProxyServer(upstream)
        self._thread = threading.Thread(target=self._server.serve_forever, name="pg-proxy", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> StartupFilterProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
