"""Slow and stalled clients against the real gunicorn: do the others still get answers?

    python bench/slow_clients.py [--clients 40] [--kinds body,headers,silent,reader]
                                 [--seconds 40] [--baseline] [--gunicorn-args "..."]

Starts gunicorn from the repository root, so it reads ``gunicorn.conf.py`` (the
production settings; ``--baseline`` runs the old line ``gunicorn -w 4 -k gthread``
without that file instead), on a temporary database with rate limits off, and
stores one big session. Then it opens ``--clients`` connections of each kind:

  body     sends headers with ``Content-Length: 100`` and 4 bytes of the body, then nothing
  headers  sends half a request line, then nothing
  silent   connects and sends nothing
  reader   asks for the big session's CSV export and never reads (receive buffer 4 KiB)

and keeps them open for ``--seconds``. Meanwhile, every 0.25 s, another client
times ``GET /health`` and a small ``POST /events`` (a new connection each, as a
health checker does), a writer keeps storing batches of 100 events, and the
WAL file's size is sampled. It prints p50/max of the probes (and how many got no
answer within 30 s), when the server answered and closed each stalled
connection (seen from the client; for readers, the request time in gunicorn's
access log, i.e. when the server gave up writing), and the WAL's size during the
run and after the writer's last batches.
"""
import argparse
import http.client
import json
import os
import re
import selectors
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE_INTERVAL = 0.25
PROBE_TIMEOUT = 30.0
BIG_SESSION = "big"
FILLER = "The largest cost drivers are compute, storage and egress. " * 12


def start_gunicorn(directory, baseline, extra_args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTLENS_")}
    env.update(AGENTLENS_DATABASE=str(directory / "bench.sqlite3"), AGENTLENS_RATE_LIMITS="off",
               AGENTLENS_SECRET_KEY="bench-secret-0123456789abcdef0123456789")
    command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}",
               "--access-logfile", str(directory / "access.log"),
               "--access-logformat", "%(r)s %(s)s %(L)s", "--no-control-socket"]
    if baseline:
        empty = directory / "empty.conf.py"
        empty.write_text("")
        command += ["-c", str(empty), "-w", "4", "-k", "gthread"]
    command += [*shlex.split(extra_args), "wsgi:app"]
    log = open(directory / "gunicorn.log", "wb")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{(directory / 'gunicorn.log').read_text()}")
        try:
            if request(port, "GET", "/health", timeout=1)[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer /health")


def request(port, method, path, body=None, timeout=PROBE_TIMEOUT):
    """One request on a new connection; returns (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def event(session_id, number):
    return {"event_type": "tool_call", "session_id": session_id, "event_id": f"e{number}",
            "duration_ms": 12.5, "tool_call": {"name": "search", "input": {"q": FILLER},
                                               "output": {"text": FILLER}}}


def store_big_session(port, events):
    for start in range(0, events, 1000):
        batch = [event(BIG_SESSION, n) for n in range(start, min(events, start + 1000))]
        status, body = request(port, "POST", "/events", json.dumps({"events": batch}))
        assert status == 200, body
    status, body = request(port, "GET", f"/sessions/{BIG_SESSION}/export?format=csv", timeout=120)
    assert status == 200
    return len(body)


class Probes:
    """GET /health and POST /events on new connections, each in its own thread, so
    that one that hangs does not delay the next."""

    def __init__(self, port):
        self.port = port
        self.results = []  # (phase, name, seconds or None, started)
        self.lock = threading.Lock()
        self.threads = []
        self.number = 0

    def probe(self, phase, name, method, path, body):
        start = time.perf_counter()
        try:
            status, _ = request(self.port, method, path, body)
            elapsed = time.perf_counter() - start if status == 200 else None
        except OSError:
            elapsed = None
        with self.lock:
            self.results.append((phase, name, elapsed, start))

    def run(self, phase, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.number += 1
            body = json.dumps({"events": [{"session_id": "probe", "event_id": f"p{self.number}",
                                           "event_type": "llm_call", "tokens_in": 1}]})
            for name, method, path, payload in (("GET /health", "GET", "/health", None),
                                                ("POST /events", "POST", "/events", body)):
                thread = threading.Thread(target=self.probe,
                                          args=(phase, name, method, path, payload))
                thread.start()
                self.threads.append(thread)
            time.sleep(PROBE_INTERVAL)

    def timeline(self, phase, step=2.5):
        """The slowest probe (of either kind) started in each ``step`` seconds."""
        probes = [(s, t) for p, _, t, s in self.results if p == phase]
        first = min(s for s, _ in probes)
        slowest = {}
        for started, elapsed in probes:
            bucket = int((started - first) // step)
            value = PROBE_TIMEOUT if elapsed is None else elapsed
            slowest[bucket] = max(slowest.get(bucket, 0.0), value)
        print("  slowest per %.1f s: " % step + " ".join(
            f"{slowest[b] * 1000:.0f}" for b in sorted(slowest)) + " ms")

    def report(self, phase):
        for name in ("GET /health", "POST /events"):
            times = [t for p, n, t, _ in self.results if p == phase and n == name]
            answered = sorted(t * 1000 for t in times if t is not None)
            failed = len(times) - len(answered)
            if answered:
                print(f"  {name:13} n={len(times):4}  p50 {statistics.median(answered):8.1f} ms"
                      f"  max {answered[-1]:8.1f} ms"
                      f"  no answer within {PROBE_TIMEOUT:.0f} s: {failed}")
            else:
                print(f"  {name:13} n={len(times):4}  no answer at all")


class Stalled:
    """One stalled connection; a thread records when the server answers and closes it."""

    PAYLOADS = {
        "body": b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{\"ev",
        "headers": b"GET /sessions?limit=1 HT",
        "silent": b"",
        "reader": f"GET /sessions/{BIG_SESSION}/export?format=csv HTTP/1.1\r\n"
                  "Host: x\r\n\r\n".encode(),
    }

    def __init__(self, kind, port, window):
        self.kind = kind
        self.sock = socket.socket()
        if kind == "reader":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.opened = time.monotonic()
        self.sock.sendall(self.PAYLOADS[kind])
        self.answered = self.closed = None
        self.status = None
        self.received = b""
        self.window = window
        self.thread = threading.Thread(target=self.watch if kind != "reader" else self.hold)
        self.thread.start()

    def watch(self):
        """Note when the answer and the end of the stream come, but keep the socket
        open for the whole window, as a stalled client would."""
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        deadline = self.opened + self.window
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            now = time.monotonic() - self.opened
            if not data:
                self.closed = now
                selector.unregister(self.sock)
                time.sleep(max(0.0, deadline - time.monotonic()))
                break
            if self.answered is None:
                self.answered = now
                self.status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "?"
            self.received += data
        selector.close()
        self.sock.close()

    def hold(self):
        """Read nothing for the whole window, then everything that is left."""
        time.sleep(max(0.0, self.opened + self.window - time.monotonic()))
        self.sock.settimeout(5)
        try:
            while chunk := self.sock.recv(1 << 20):
                self.received += chunk
        except OSError:
            pass
        self.sock.close()

    def complete_stream(self):
        return self.received.endswith(b"\r\n0\r\n\r\n")


def spread(values):
    values = sorted(values)
    return f"{values[0]:.1f}–{values[-1]:.1f} s" if values else "never"


def report_stalled(connections, access_log):
    kinds = sorted({c.kind for c in connections}, key=list(Stalled.PAYLOADS).index)
    export_times = [float(m.group(1)) for m in re.finditer(
        r"export\?format=csv HTTP/1.1 \d+ ([\d.]+)", access_log)]
    for kind in kinds:
        group = [c for c in connections if c.kind == kind]
        if kind == "reader":
            cut = sum(not c.complete_stream() for c in group)
            print(f"  reader  {len(group):3}: the export's request ended after"
                  f" {spread(export_times)} (access log: {len(export_times)} of {len(group)});"
                  f" stream cut short: {cut} of {len(group)}")
            continue
        statuses = sorted({c.status for c in group if c.status})
        answered = [c.answered for c in group if c.answered is not None]
        closed = [c.closed for c in group if c.closed is not None]
        print(f"  {kind:7} {len(group):3}: answered {len(answered)} ({', '.join(statuses) or '-'})"
              f" after {spread(answered)}; closed {len(closed)} after {spread(closed)}")


class Writer:
    """Stores batches of 100 events without pause while the WAL's size is sampled."""

    def __init__(self, port, wal_path):
        self.port, self.wal_path = port, wal_path
        self.stop = threading.Event()
        self.batches = 0
        self.wal_max = 0
        self.threads = [threading.Thread(target=self.write), threading.Thread(target=self.sample)]
        for thread in self.threads:
            thread.start()

    def write(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PROBE_TIMEOUT)
        while not self.stop.is_set():
            n = self.batches * 100
            body = json.dumps({"events": [event(f"w{n // 10_000}", n + i) for i in range(100)]})
            try:
                conn.request("POST", "/events", body=body,
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
                self.batches += 1
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PROBE_TIMEOUT)
        conn.close()

    def sample(self):
        while not self.stop.is_set():
            self.wal_max = max(self.wal_max, wal_size(self.wal_path))
            time.sleep(0.1)

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()


def wal_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=40, help="connections of each kind")
    parser.add_argument("--kinds", default="body,headers,silent,reader")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long they stay stalled")
    parser.add_argument("--events", type=int, default=20_000, help="events of the exported session")
    parser.add_argument("--baseline", action="store_true",
                        help="the old line, gunicorn -w 4 -k gthread, without gunicorn.conf.py")
    parser.add_argument("--gunicorn-args", default="", help="more gunicorn options")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="agentlens-slow-"))
    process, port = start_gunicorn(directory, args.baseline, args.gunicorn_args)
    try:
        setup = "gunicorn -w 4 -k gthread (no gunicorn.conf.py)" if args.baseline else \
            "gunicorn wsgi:app with gunicorn.conf.py"
        print(f"{setup} {args.gunicorn_args}".strip())
        csv_bytes = store_big_session(port, args.events)
        print(f"big session: {args.events} events, CSV export {csv_bytes / 1e6:.1f} MB")
        probes = Probes(port)
        probes.run("before", 3)
        print("before:")
        probes.report("before")

        access_log = directory / "access.log"
        seen = len(access_log.read_text())
        writer = Writer(port, directory / "bench.sqlite3-wal")
        kinds = args.kinds.split(",")
        connections = [Stalled(kind, port, args.seconds)
                       for _ in range(args.clients) for kind in kinds]
        print(f"during ({args.clients} of each of {', '.join(kinds)}; {args.seconds:.0f} s;"
              f" a writer storing batches of 100 meanwhile):")
        probes.run("during", args.seconds)
        for connection in connections:
            connection.thread.join()
        for thread in probes.threads:
            thread.join()
        probes.report("during")
        probes.timeline("during")
        wal_during = writer.wal_max
        time.sleep(5)  # the writer goes on: the next checkpoints can reset the WAL
        writer.finish()
        print("stalled connections (seconds after they opened):")
        report_stalled(connections, access_log.read_text()[seen:])
        print(f"WAL: largest {wal_during / 1e6:.1f} MB while stalled, "
              f"{wal_size(directory / 'bench.sqlite3-wal') / 1e6:.1f} MB after 5 s more of "
              f"writes ({writer.batches} batches of 100 events in all)")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(90)


if __name__ == "__main__":
    main()
