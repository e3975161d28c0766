"""The production setup (gunicorn.conf.py) on a real gunicorn: stalled clients neither
block the others nor keep a thread; what it says at start-up; connections closed."""
import contextlib
import copy
import gc
import http.client
import json
import os
import selectors
import signal
import socket
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from agentlens import config, db, serving
from agentlens.db import close_all, get_db
from agentlens.security import per_worker_limits_warning
from server import start_server

CLIENT_TIMEOUT = 1.0  # AGENTLENS_CLIENT_TIMEOUT of these servers, in seconds
STALLED_BODY = (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{\"ev")
STALLED_HEADERS = b"GET /sessions?limit=1 HT"


@pytest.fixture
def live(tmp_path):
    server = start_server(tmp_path, environment={"AGENTLENS_CLIENT_TIMEOUT": str(CLIENT_TIMEOUT)})
    try:
        yield server
    finally:
        server.stop()


class Stalled:
    """A client that sends ``payload`` and then nothing, and never closes its side
    (until the test ends); records when the server first answers or closes."""

    def __init__(self, server, payload, receive_buffer=None):
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        self.sock.sendall(payload)
        self.opened = time.monotonic()
        self.first_readable = None

    def watch(self, seconds):
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            if selector.select(seconds):
                self.first_readable = time.monotonic() - self.opened

    def response(self):
        """The raw bytes the server sent, up to its end of the stream."""
        self.sock.settimeout(5)
        received = b""
        while chunk := self.sock.recv(1 << 20):
            received += chunk
        return received

    def close(self):
        self.sock.close()


def health_times(server, seconds):
    """Seconds each GET /health took, one on a new connection every 0.1 s."""
    times, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        response = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]),
                                              timeout=10)
        try:
            response.request("GET", "/health")
            assert response.getresponse().status == 200
        finally:
            response.close()
        times.append(time.perf_counter() - start)
        time.sleep(0.1)
    return times


def test_stalled_clients_neither_block_health_nor_keep_a_thread(live):
    clients = [Stalled(live, STALLED_BODY) for _ in range(4)]
    clients += [Stalled(live, STALLED_HEADERS) for _ in range(4)]
    watchers = [threading.Thread(target=client.watch, args=(CLIENT_TIMEOUT + 3,))
                for client in clients]
    try:
        for watcher in watchers:
            watcher.start()
        # Before, while and after the server gives up on them (and closes them,
        # though they never close their side), /health answers at once.
        times = health_times(live, CLIENT_TIMEOUT + 3)
        for watcher in watchers:
            watcher.join()
        assert max(times) < 0.5, times

        for client in clients:
            assert client.first_readable is not None
            assert CLIENT_TIMEOUT - 0.1 < client.first_readable < CLIENT_TIMEOUT + 1
        for client in clients[:4]:  # the body's reads gave up: a 408 in JSON, then the end
            head, _, body = client.response().partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 ")
            assert b"\r\nContent-Type: application/json\r\n" in head
            assert json.loads(body) == {
                "error": "Request body incomplete: the client stopped sending it"}
        for client in clients[4:]:  # the headers never ended: closed without an answer
            assert client.response() == b""
    finally:
        for client in clients:
            client.close()
    assert "counted per worker" not in live.log()  # rate limits are off here


def read_responses(sock, count):
    """``[(status line, body)]`` of the next ``count`` responses (each with a Content-Length)."""
    sock.settimeout(10)
    buffer, responses = b"", []
    while len(responses) < count:
        head, separator, rest = buffer.partition(b"\r\n\r\n")
        if separator:
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            if len(rest) >= length:
                responses.append((head.split(b"\r\n")[0], json.loads(rest[:length])))
                buffer = rest[length:]
                continue
        chunk = sock.recv(1 << 16)
        assert chunk, f"closed after {len(responses)} responses"
        buffer += chunk
    return responses


def post_request(session_id, event_id):
    body = json.dumps({"events": [{"session_id": session_id, "event_id": event_id,
                                   "event_type": "llm_call", "tokens_in": 3}]}).encode()
    return (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def test_requests_on_one_kept_alive_connection_are_all_answered_in_order(live):
    # Sent together, back to back as answers come, and after pauses longer than a
    # thread waits for the next request (then the worker's main loop takes it).
    port = int(live.url.rsplit(":", 1)[1])
    with closing(socket.create_connection(("127.0.0.1", port))) as sock:
        sock.sendall(post_request("keep", "e1") + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                     + post_request("keep", "e2"))
        answers = read_responses(sock, 3)
        for n in range(3, 7):
            sock.sendall(post_request("keep", f"e{n}"))
            answers += read_responses(sock, 1)
        for pause, n in ((0.05, 7), (0.3, 8)):
            time.sleep(pause)
            sock.sendall(post_request("keep", f"e{n}"))
            answers += read_responses(sock, 1)
    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * 9
    assert answers[1][1]["status"] == "ok"
    assert [body.get("processed") for _, body in answers] == [1, None] + [1] * 7
    session = live.get_json("/sessions/keep")
    assert sorted(e["event_id"] for e in session["events"]) == [f"e{n}" for n in range(1, 9)]
    assert session["total_tokens_in"] == 24


def test_clients_that_never_pause_take_turns_for_the_threads(tmp_path):
    # 2 workers of 2 threads, 8 clients each sending request after request on its
    # kept-alive connection: a thread serves a connection a bounded number of
    # requests in a row, so every client is answered, none waits for the others.
    server = start_server(tmp_path, config=Path(__file__).with_name("few_threads_gunicorn_conf.py"))
    port, counts, start = int(server.url.rsplit(":", 1)[1]), [0] * 8, time.monotonic()

    def client(n):
        with closing(socket.create_connection(("127.0.0.1", port))) as sock:
            while time.monotonic() - start < 3:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_responses(sock, 1)[0][0] == b"HTTP/1.1 200 OK"
                counts[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    assert min(counts) >= 100, counts


def holding_processes(server, client_ports):
    """``{client port: pid}``: the gunicorn worker that holds each client's connection
    (Linux: the server side's socket inode in /proc/net/tcp, found among the
    workers' open files)."""
    port, inodes = int(server.url.rsplit(":", 1)[1]), {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local == port and remote in client_ports:
            inodes[f"socket:[{fields[9]}]"] = remote
    held = {}
    for pid in worker_pids(server):
        with contextlib.suppress(OSError):  # a worker that ended meanwhile
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if (target := os.readlink(fd)) in inodes:
                    held[inodes[target]] = pid
    return held


def wait_for_workers(server, count):
    """Until ``count`` workers have made their app (each says "dev mode" once)."""
    deadline = time.monotonic() + 20
    while server.log().count("dev mode") < count:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


def worker_pids(server):
    """The gunicorn workers of ``server`` (Linux: the children of its master in /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == server.pid:
                pids.append(int(stat.parent.name))
    return pids


def test_clients_that_connect_together_are_spread_over_the_workers(tmp_path):
    # Four keep-alive clients connecting at the same moment, as a load generator's
    # do, to four workers: every worker is woken by each connection, and one could
    # take several and serve them on one core (GIL) while others idle; a worker
    # that is serving leaves the next to an idle one. (Before: one worker to each
    # client in 2 tries out of 20.)
    server = start_server(tmp_path, workers=4)
    port, spread = int(server.url.rsplit(":", 1)[1]), 0
    try:
        wait_for_workers(server, 4)
        # Its kept-alive connection (from /health) would count for a worker; a cycle
        # holds the socket open until collected.
        server.http.close()
        gc.collect()
        time.sleep(0.2)
        for _ in range(10):
            socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
            try:
                for sock in socks:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                for sock in socks:
                    assert read_responses(sock, 1)[0][0] == b"HTTP/1.1 200 OK"
                held = holding_processes(server, {sock.getsockname()[1] for sock in socks})
                assert len(held) == 4
                spread += len(set(held.values())) == 4
            finally:
                for sock in socks:
                    sock.close()
            time.sleep(0.1)  # the workers count them closed: all idle again
    finally:
        server.stop()
    assert spread >= 7


def worker_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_that_stops_while_leaving_a_connection_to_others_waits_without_spinning(
        tmp_path):
    # Every worker is serving (connections that have sent nothing yet), a new one comes
    # (so they stop listening for a moment), and they are told to stop: while they
    # wait for their connections to finish, their main loops sleep. (Before: both
    # spun at a whole core each, the listening deadline passed but never cleared.)
    server = start_server(tmp_path, workers=2)
    port, sockets = int(server.url.rsplit(":", 1)[1]), []
    try:
        wait_for_workers(server, 2)
        workers = worker_pids(server)
        assert len(workers) == 2
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        time.sleep(0.3)
        sockets.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.001)
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        before = [worker_cpu_seconds(pid) for pid in workers]
        time.sleep(1.5)
        spent = [worker_cpu_seconds(pid) - was for pid, was in zip(workers, before)]
        assert max(spent) < 0.3, spent
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_a_client_that_stops_reading_an_export_is_cut_off(live):
    # 8 MB of CSV: more than the server's socket buffers hold (4 MiB here at most).
    big = "x" * 100_000
    events = [{"session_id": "big", "event_id": f"e{n}", "output_data": {"text": big}}
              for n in range(80)]
    assert live.post_json("/events", {"events": events})["processed"] == 80
    reader = Stalled(live, b"GET /sessions/big/export?format=csv HTTP/1.1\r\nHost: x\r\n\r\n",
                     receive_buffer=4096)
    try:
        time.sleep(CLIENT_TIMEOUT + 2)
        assert max(health_times(live, 0.5)) < 0.5
        received = reader.response()  # ends: the server closed the connection
    finally:
        reader.close()
    assert received.startswith(b"HTTP/1.1 200 ")
    assert len(received) < 8_000_000
    assert not received.endswith(b"\r\n0\r\n\r\n")  # the chunked stream was cut short


def test_several_workers_with_limits_in_memory_say_so_at_start_up(tmp_path):
    warning = ("Rate limits are counted per worker: with 2 workers and "
               "RATELIMIT_STORAGE_URI=memory://, one client may make 2 times each limit. "
               "Set RATELIMIT_STORAGE_URI=redis://... to share them.")
    server = start_server(tmp_path, environment={"AGENTLENS_RATE_LIMITS": "on"})
    try:
        deadline = time.monotonic() + 10  # the second worker may boot after the first answers
        while server.log().count(warning) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    assert server.log().count(warning) == 2  # once per worker


@pytest.mark.parametrize("config, workers, warned", [
    ({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}, 4, True),
    ({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}, 1, False),
    ({"RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://"}, 4, False),
    ({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}, 4, False),
])
def test_the_per_worker_warning_only_when_limits_are_per_worker(config, workers, warned):
    warning = per_worker_limits_warning(config, workers)
    assert (warning is not None) == warned
    if warned:
        assert f"one client may make {workers} times each limit" in warning


@pytest.mark.sqlite_only
def test_close_all_closes_the_connection_of_every_thread(app):
    opened = []

    def use_db():
        with app.app_context():
            opened.append(get_db())

    threads = [threading.Thread(target=use_db) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()  # one after another: each its own, still-open, connection
    use_db()
    assert len({id(conn) for conn in opened}) >= 2
    close_all(app)
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            conn.execute("SELECT 1")
    with app.app_context():  # a new one is opened on the next use
        assert get_db().execute("SELECT 1").fetchone()[0] == 1


def test_client_timeouts_are_inherited_by_accepted_connections():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        serving.set_client_timeouts(listener, 0.3)
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                start = time.monotonic()
                with pytest.raises(BlockingIOError):
                    accepted.recv(1)
                assert 0.25 < time.monotonic() - start < 1


def test_the_wal_shrinks_back_after_a_long_read_snapshot(tmp_path):
    path = str(tmp_path / "wal.sqlite3")
    with closing(db.connect(path)) as writer, closing(db.connect(path)) as reader:
        db.migrate(writer)
        writer.execute("CREATE TABLE filler (data BLOB)")
        wal = tmp_path / "wal.sqlite3-wal"
        with db.snapshot(reader):  # pins the WAL: no checkpoint can reset it
            reader.execute("SELECT count(*) FROM sessions").fetchone()
            for _ in range(24):
                with db.transaction(writer):
                    writer.execute("INSERT INTO filler VALUES (zeroblob(1024 * 1024))")
            assert wal.stat().st_size > 24 * 1024 * 1024
        for _ in range(2):  # the next writes checkpoint, then start the WAL again
            with db.transaction(writer):
                writer.execute("INSERT INTO filler VALUES (zeroblob(1024))")
            writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        assert wal.stat().st_size <= 16 * 1024 * 1024


@pytest.mark.parametrize("value, seconds", [("10", 10.0), ("2.5", 2.5), ("0.001", 0.001)])
def test_the_client_timeout_is_a_positive_number_of_seconds(value, seconds):
    assert config.from_environment({"AGENTLENS_CLIENT_TIMEOUT": value}) == {
        "CLIENT_TIMEOUT": seconds}


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "ten", ""])
def test_a_client_timeout_that_is_not_one_stops_the_start(value):
    with pytest.raises(SystemExit, match="AGENTLENS_CLIENT_TIMEOUT"):
        config.from_environment({"AGENTLENS_CLIENT_TIMEOUT": value})


def test_a_worker_reads_each_gunicorn_setting_once_and_keeps_it():
    from gunicorn.config import Config

    settings = Config()
    settings.set("keepalive", 7)
    settled = serving.SettledConfig(settings)
    assert (settled.keepalive, settled.limit_request_fields) == (7, 100)
    assert not settled.is_ssl
    settings.set("keepalive", 9)
    assert settled.keepalive == 7
    with pytest.raises(AttributeError):
        settled.no_such_setting
    assert copy.copy(settled).keepalive == 7
