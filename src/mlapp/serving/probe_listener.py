"""The probe port's HTTP listener (probes.py): one thread and one selector for every connection.

Why not a thread per connection (the standard library's ``ThreadingHTTPServer``, before): a
client that opened thousands of idle connections to the probe port made thousands of threads,
and capping the threads made probes fail more often (a new probe waited for, or was refused,
a slot an idle connection held). Here one thread waits on every socket at once
(``selectors``), and what a connection holds is a socket and a parser:

- h11 parses each request (no hand-written HTTP); GET and HEAD (the same answer without its body,
  as the traffic port's ``/livez`` and ``/readyz`` answer it: a 405 failed a monitor or
  ``curl -I`` that checks with HEAD), one request per connection, every answer says
  ``Connection: close``; a malformed one is a 400 naming h11's reason, not the line it quotes,
  and first bytes that cannot begin a request line a 400 as they arrive (``LINE_START``: h11
  judges a line once it ends, so random bytes without a line end held a place until the deadline);
- a read deadline: the request line and headers must arrive within ``serving.header_timeout_s``
  of the connection's accept (as on the traffic port, ``header_deadline.py``: a byte at a time
  does not keep a connection open), else a client that started a request gets a 408 and a
  silent one is closed;
- a size cap: request line and headers over ``serving.max_header_bytes`` get a 431 (the parser
  is fed no more than the cap, so a connection buffers at most that much);
- a bound: at most ``serving.probe_max_connections`` connections wait for their request. A new
  connection over it closes the oldest (the one that has waited longest: a flood's, since a
  probe sends its request as it connects) rather than being refused: a flood that reconnects
  at once cannot keep a probe out, it only shortens how long its own connections live;
- ``TCP_DEFER_ACCEPT`` (Linux): the kernel hands a connection over once its first bytes have
  arrived (or, silent, after about ``serving.header_timeout_s``), so a silent flood waits in
  the kernel, costing the listener nothing, and a probe's request is there when it is
  accepted: read at once, it is answered before a newer connection could push it out. Each
  pass of the loop also reads the connections that sent something before it accepts new ones,
  and accepts at most half the bound.

Answers are a few hundred bytes, sent with one ``send`` on a new connection: the socket's send
buffer (kilobytes) always takes them whole.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import re
import selectors
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import h11

from mlapp.serving import heads, versions

logger = logging.getLogger(__name__)
Check = Callable[[], tuple[int, str]]
Route = Callable[[str], Check | None]  # a path to its check (probes.Checks.route); None: a 404
RECV_BYTES = 16384
OUT_OF_FDS_S = 0.5  # no descriptor left and no connection of ours to close: wait, do not spin
NOT_FOUND = "no such path: this port serves /livez and /readyz"
METHODS = (b"GET", b"HEAD")
# h11 quotes the offending line in some reasons (``illegal request line: bytearray(b'...')``): up to
# ``serving.max_header_bytes`` sent back, as Python's repr. The 400 gives the reason before it.
QUOTED = re.compile(r":? (?:bytearray\()?b['\"].*", re.DOTALL)
# What a request line's first bytes can be, before its end arrives: a method (a token, of at most
# 32 characters: the longest registered is 17), a space, the target, a space, the version. h11 says a
# line is illegal only once it ends (or by its first byte alone): random bytes without a line end held
# a connection until serving.header_timeout_s (10 s). Read from the first LINE_START_BYTES received.
METHOD, TARGET = rb"[!#$%&'*+.^_`|~0-9A-Za-z]{1,32}", rb"[\x21-\x7e]*"
VERSION = rb"(?:H(?:T(?:T(?:P(?:/[0-9.]*)?)?)?)?)?"
LINE_START = re.compile(METHOD + rb"(?: " + TARGET + rb"(?: " + VERSION + rb")?)?\r?")
LINE_START_BYTES = 64


@dataclass(frozen=True)
class Limits:
    timeout_s: float  # serving.header_timeout_s: from accept to the end of the headers
    max_bytes: int  # serving.max_header_bytes: request line + headers
    max_open: int  # serving.probe_max_connections: connections waiting for their request


@dataclass
class Waiting:
    """A connection accepted, its request not complete yet."""

    sock: socket.socket
    deadline: float  # time.monotonic() by which its headers must be complete
    parser: h11.Connection
    received: int = 0
    start: bytes = b""  # the first LINE_START_BYTES received


def answer(status: int, text: str, extra: str = "", head_only: bool = False) -> bytes:
    """The whole answer; ``head_only`` (a HEAD request): its head, the body's length in it."""
    body = (text + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return head.encode() + (b"" if head_only else body)


def malformed(reason: str) -> str:
    return (
        f"malformed HTTP request ({reason}): this port answers GET and HEAD /livez and /readyz over HTTP/1.1"
    )


class Listener:
    """Answers GET ``route(path)()`` on ``address`` from ``serve`` (run it on a thread of its own)."""

    def __init__(self, address: tuple[str, int], route: Route, limits: Limits) -> None:
        family = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0][0]
        # SO_REUSEPORT: every worker binds the port; the kernel spreads connections over them.
        self.sock = socket.create_server(address, family=family, backlog=socket.SOMAXCONN, reuse_port=True)
        self.sock.setblocking(False)
        if hasattr(socket, "TCP_DEFER_ACCEPT"):  # Linux: seconds, see the module's docstring
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, math.ceil(limits.timeout_s))
        self.route, self.limits = route, limits
        self.waiting: OrderedDict[int, Waiting] = OrderedDict()  # accept order: deadline order too
        self.selector = selectors.DefaultSelector()
        self.wake_in, self.wake_out = socket.socketpair()  # stop() writes one byte: select returns
        self.stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def serve(self) -> None:
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self.wake_in, selectors.EVENT_READ)
        while not self.stopping.is_set():
            ready = self.selector.select(self.until_next_deadline())
            incoming = False
            for key, _ in ready:
                if isinstance(key.data, Waiting):
                    self.read_safely(key.data)
                incoming = incoming or key.fileobj is self.sock
            self.expire(time.monotonic())
            if incoming:  # after the reads: see the module's docstring
                self.accept()

    def stop(self) -> None:
        """Ask ``serve`` to return (from another thread); ``close`` once it has."""
        self.stopping.set()
        self.wake_out.send(b"x")

    def close(self) -> None:
        for conn in list(self.waiting.values()):
            self.drop(conn)
        self.selector.close()
        for sock in (self.sock, self.wake_in, self.wake_out):
            sock.close()

    def until_next_deadline(self) -> float | None:
        if not self.waiting:
            return None
        return max(next(iter(self.waiting.values())).deadline - time.monotonic(), 0.0)

    def accept(self) -> None:
        for _attempt in range(max(self.limits.max_open // 2, 1)):
            try:
                sock, _ = self.sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    continue  # e.g. ECONNABORTED: that client left before its accept
                if not self.waiting:  # the worker's other sockets hold the descriptors
                    logger.warning("probe port: no file descriptor left to accept a probe (%s)", exc)
                    time.sleep(OUT_OF_FDS_S)
                    return
                self.drop(next(iter(self.waiting.values())))  # frees a descriptor: try again
                continue
            while len(self.waiting) >= self.limits.max_open:
                self.drop(next(iter(self.waiting.values())))  # the oldest waiting: see above
            sock.setblocking(False)
            parser = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_bytes)
            conn = Waiting(sock, time.monotonic() + self.limits.timeout_s, parser)
            self.waiting[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, conn)
            self.read_safely(conn)  # a probe's request is often here already: answered before any drop

    def read_safely(self, conn: Waiting) -> None:
        """``read``; a failure is logged and closes that connection, never the listener."""
        try:
            self.read(conn)
        except Exception:
            logger.exception("probe port: answering a connection failed")
            self.drop(conn)

    def read(self, conn: Waiting) -> None:
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the client
            self.drop(conn)
            return
        if not data:  # the client left (or half-closed) before its request was complete
            self.drop(conn)
            return
        room = self.limits.max_bytes - conn.received
        conn.received += len(data)
        if room > 0:  # never b"": that would tell h11 the client closed
            conn.parser.receive_data(data[:room])  # a complete request within the cap is still served
        try:
            event = conn.parser.next_event()
        except h11.RemoteProtocolError as exc:
            self.refuse(conn, exc)
            return
        if isinstance(event, h11.Request):
            self.finish(conn, *self.respond(event), head_only=event.method == b"HEAD")
        elif conn.received > self.limits.max_bytes:
            self.finish(conn, *self.too_large())
        elif not self.may_be_request_line(conn, data):
            self.finish(conn, 400, malformed("not an HTTP request line"), "")

    @staticmethod
    def may_be_request_line(conn: Waiting, data: bytes) -> bool:
        """Whether the first bytes of a request line not ended yet can begin one (``LINE_START``)."""
        if len(conn.start) >= LINE_START_BYTES:
            return True  # looked at already: the rest waits for h11 and the deadline
        conn.start += data[: LINE_START_BYTES - len(conn.start)]
        return b"\n" in conn.start or LINE_START.fullmatch(conn.start) is not None

    def respond(self, request: h11.Request) -> tuple[int, str, str]:
        if (version := request.http_version.decode()) not in versions.SERVED:  # h11 reads any d.d
            return HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, versions.unsupported(version), ""
        if request.method not in METHODS:
            method = request.method.decode()
            return 405, f"method {method} not allowed: this port answers GET and HEAD", "allow: GET, HEAD\r\n"
        check = self.route(request.target.decode("ascii", "replace"))
        return (*check(), "") if check else (404, NOT_FOUND, "")

    def too_large(self) -> tuple[int, str, str]:
        return 431, heads.too_large(self.limits.max_bytes), ""

    def refuse(self, conn: Waiting, exc: h11.RemoteProtocolError) -> None:
        if exc.error_status_hint == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
            self.finish(conn, *self.too_large())
            return
        self.finish(conn, exc.error_status_hint, malformed(QUOTED.sub("", str(exc))), "")

    def expire(self, now: float) -> None:
        while self.waiting:
            conn = next(iter(self.waiting.values()))
            if conn.deadline > now:
                return
            if conn.received:
                self.finish(conn, 408, heads.too_slow(self.limits.timeout_s), "")
            else:
                self.drop(conn)

    def finish(self, conn: Waiting, status: int, text: str, extra: str, head_only: bool = False) -> None:
        with contextlib.suppress(OSError):  # the client is gone: nobody to answer
            conn.sock.send(answer(status, text, extra, head_only))
        self.drop(conn)

    def drop(self, conn: Waiting) -> None:
        if conn.sock.fileno() < 0:  # closed already
            return
        self.waiting.pop(conn.sock.fileno(), None)
        self.selector.unregister(conn.sock)
        conn.sock.close()
