"""What the production server (gunicorn, through ``gunicorn.conf.py``) needs:
bounded waits on clients, and a worker whose main loop no stalled client can stop.

Imported by gunicorn.conf.py only (gunicorn is the ``server`` extra), never by the app.
"""
import contextlib
import select
import socket
import struct
import time

from gunicorn.workers import gthread


def set_client_timeouts(listener, seconds):
    """Make every connection accepted on ``listener`` give up on a client that
    sends, or reads, nothing for ``seconds``.

    The kernel's SO_RCVTIMEO and SO_SNDTIMEO, which accepted sockets inherit:
    they bound gunicorn's own blocking reads of the request line and headers,
    and its writes, before the app runs (where :class:`ClientTimeout` cannot
    reach, and where a Python socket timeout would not hold: a gthread worker
    resets its socket to blocking before each request). A read that times out
    fails with EAGAIN, and gunicorn drops the connection.
    """
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int(round((seconds - whole) * 1_000_000)))
    for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
        listener.setsockopt(socket.SOL_SOCKET, option, timeval)


class ClientTimeout:
    """WSGI middleware: under gunicorn, each read of the request body gives up
    after ``seconds`` without data, and each write of the response when it has
    not gone out in ``seconds`` (so a client that reads a few bytes now and then
    cannot hold the thread either). Werkzeug turns a read that gave up into
    ClientDisconnected (408, see errors.py); a write that gave up ends the
    response and the connection.
    """

    def __init__(self, wsgi_app, seconds):
        self.wsgi_app = wsgi_app
        self.seconds = seconds

    def __call__(self, environ, start_response):
        client = environ.get("gunicorn.socket")
        if client is not None:
            client.settimeout(self.seconds)
        return self.wsgi_app(environ, start_response)


# How long a thread that answered a request on a kept-alive connection waits for
# the next one there before it gives the connection back to the worker's main loop,
# and how many it answers in a row at most (then the connection queues again behind
# the others, so that clients that never pause cannot keep every thread).
NEXT_REQUEST_WAIT_SECONDS = 0.002
REQUESTS_IN_A_ROW = 32
# How long a worker that is serving requests leaves a new connection to the others
# before it takes the connection itself.
ACCEPT_DEFER_SECONDS = 0.005


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker, except that

    - a thread that answered a request on a kept-alive connection serves the next
      one itself when it comes within NEXT_REQUEST_WAIT_SECONDS (up to
      REQUESTS_IN_A_ROW requests). gunicorn hands every request from its main loop
      to a pool thread and the connection back when answered: two thread switches
      and four wake-ups a request, which cost more CPU than the request itself for
      small ones (a client sending batch after batch made the server spend 2.4 ms
      of CPU per batch of one event, 1 ms of it in the kernel switching threads).
      A client that pauses longer waits in the main loop as before, holding no
      thread;
    - a worker that is serving requests stops listening for a moment
      (ACCEPT_DEFER_SECONDS) when a new connection comes, leaving it to a worker
      that is not, and then takes it if it is still there. Every worker is woken
      by a new connection and the first to call accept() gets it: four keep-alive
      clients connecting together found one worker each in 2 tries out of 20, and
      one worker sometimes took three or all four, serving them in one process,
      on one core (GIL), while the others idled (at batch 10, all four on one
      worker: 5,725 events/s, one core busy; three on one and one on another:
      7,095, in the same run). Its main
      loop goes on meanwhile, and connections that are only kept alive do not
      count, so a client opening a connection per request waits for nothing while
      a worker is free; with one worker, nothing changes;
    - the connections it closes are closed on a pool thread instead of on the
      worker's main thread. gunicorn closes a connection gracefully: it waits up to
      2 s for the client to close its side first. On the main thread, which also
      accepts connections and hands the kept-alive ones to the threads, a client
      that stalled until its timeout (and so never closes its side) stopped the
      whole worker for those 2 s: 40 such clients kept /health waiting 18 s.
    """

    def init_process(self):
        self.cfg = SettledConfig(self.cfg)
        self.serving = 0          # connections handed to a pool thread and not back yet
        self.listen_again_at = 0  # while leaving a new connection to the others: until when
        self.take_until = 0       # then, until when it takes new connections itself
        super().init_process()

    def handle(self, conn):
        keepalive = super().handle(conn)
        for _ in range(REQUESTS_IN_A_ROW - 1):
            if not (keepalive is True and self.alive and not conn.is_http2
                    and next_request_comes(conn)):
                break
            keepalive = super().handle(conn)
        return keepalive

    def accept(self, listener):
        if self.serving and self.cfg.workers > 1 and time.monotonic() > self.take_until:
            self.listen_again_at = time.monotonic() + ACCEPT_DEFER_SECONDS
            self.set_accept_enabled(False)
            return
        super().accept(listener)

    def set_accept_enabled(self, enabled):
        # gunicorn's main loop asks to listen again at each turn: not while deferring.
        if enabled and self.listen_again_at:
            now = time.monotonic()
            if self.serving and now < self.listen_again_at:
                return
            self.listen_again_at, self.take_until = 0, now + ACCEPT_DEFER_SECONDS
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        # Woken to listen again in time; once that time has passed, the main loop's turn
        # does it (and not at all when it is stopping, or has all the connections it takes).
        remaining = self.listen_again_at - time.monotonic()
        super().wait_for_and_dispatch_events(min(timeout, remaining) if remaining > 0 else timeout)

    def enqueue_req(self, conn):
        self.serving += 1
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.serving -= 1
        if not fs.cancelled() and fs.exception() is None and fs.result() is False:
            self.nr_conns -= 1
            self.tpool.submit(close_gracefully, conn)
        else:
            super().finish_request(conn, fs)


class SettledConfig:
    """A worker's gunicorn settings, each read once. gunicorn reads a setting through
    ``Config.__getattr__`` (a lookup and a method call) a few dozen times a request,
    7 % of a worker's CPU on small requests; a worker's settings never change (a
    reload starts new workers)."""

    def __init__(self, cfg):
        self._cfg = cfg

    def __getattr__(self, name):
        if name.startswith("_"):  # _cfg itself, before __init__ (copy, pickle), and dunders
            raise AttributeError(name)
        value = getattr(self._cfg, name)
        setattr(self, name, value)
        return value


def next_request_comes(conn):
    """Whether the client starts its next request within NEXT_REQUEST_WAIT_SECONDS
    (or already has: bytes read ahead with the last one)."""
    if conn.parser.unreader.buf.getvalue():
        return True
    waiting = select.poll()
    waiting.register(conn.sock, select.POLLIN)
    return bool(waiting.poll(NEXT_REQUEST_WAIT_SECONDS * 1000))


def close_gracefully(conn):
    with contextlib.suppress(OSError):  # already closed, after a write that gave up
        conn.close(graceful=True)
