"""Read benchmark: every read through real gunicorn, at 10,000 sessions and at --sessions,
beside another server holding the same data (--target), in the same run.

    python bench/reads.py [--sessions 1000000] [--events M] [-n 200] [--max-seconds 10]
                          [--gunicorn-args "-w 4 -k gthread"]
                          [--target http://127.0.0.1:PORT [--target-10k URL] [--target-pid PID]]
                          [--plans]

The databases are bench/dataset.py's, at its default path for 10,000 sessions and
for --sessions (and --events, default 3 per session); a missing one is built first
(minutes; resumable). For each size in turn, AgentLens serves it under gunicorn
(server.py: ./gunicorn.conf.py if there is one, --gunicorn-args on top; rate limits
off), and the other server holding the same data (--target-10k for the small one,
--target for the large one, loaded with ``bench/dataset.py --target``) is measured
endpoint by endpoint beside it. Each endpoint is requested over one keep-alive
connection, one request after another, -n times or for --max-seconds (at least 5),
after 3 unmeasured requests; printed: p50, p90, the server's CPU per request
(utime+stime from /proc, as bench/ingest.py) and the number of requests:

- GET /sessions/<id>, its JSON and CSV export, its explanation, and POST
  /sessions/compare, of the 100-event sessions bench-100-a and bench-100-b
  (target p50 <= 1.7 ms each);
- GET /analytics unfiltered, for one agent, and from now - 7 days (a time of day,
  so the range cuts a day and an hour) (target p50 <= 20 ms at 1,000,000
  sessions). Each analytics request carries a parameter of its own (``nocache``,
  which AgentLens ignores): the reference caches /analytics responses for 30 s by
  URL, and the point is what it costs to answer. The reference has no analytics
  filters: those lines are AgentLens's only.

Then the analytics growth ratio (p50 at --sessions / p50 at 10,000; target <= 2;
also the ratio of the server's CPU per request, which the machine's load moves less),
and the memory of streaming the 100,000-event session as CSV: the serving
processes' VmRSS sampled every 2 ms and their VmHWM (reset first through
/proc/<pid>/clear_refs), the growth of the worst one (target < 50 MB), and the
CSV's row count. --plans prints each query that analytics() runs for the three
analytics requests at --sessions, with its CPU time and EXPLAIN QUERY PLAN.
"""
import argparse
import csv
import http.client
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # agentlens from this work tree

import dataset  # noqa: E402
from server import (DEFAULT_GUNICORN_ARGS, attach, load_average, rss_kb, serving_pids,  # noqa: E402
                    start_gunicorn, stop)

from agentlens.db import connect  # noqa: E402
from agentlens.read.analytics import analytics  # noqa: E402
from agentlens.timestamps import parse_iso  # noqa: E402

SMALL = 10_000
SESSION_A, SESSION_B, HUGE = "bench-100-a", "bench-100-b", "bench-100k"
AGENT = "research-agent-3"
SESSION_TARGET_MS, ANALYTICS_TARGET_MS, GROWTH_TARGET, MEMORY_TARGET_MB = 1.7, 20, 2, 50
MB = 1024


def week_ago():
    """now - 7 days, to the millisecond: a time of day that cuts a day and an hour."""
    return (datetime.now(timezone.utc) - timedelta(days=7)).isoformat(timespec="milliseconds")


def endpoints(since):
    """(name, method, path, JSON body, target ms, the reference has it)."""
    compare = {"session_a": SESSION_A, "session_b": SESSION_B}
    return [
        ("GET /sessions/<100>", "GET", f"/sessions/{SESSION_A}", None, SESSION_TARGET_MS, True),
        ("GET /sessions/<100>/export json", "GET", f"/sessions/{SESSION_A}/export?format=json", None,
         SESSION_TARGET_MS, True),
        ("GET /sessions/<100>/export csv", "GET", f"/sessions/{SESSION_A}/export?format=csv", None,
         SESSION_TARGET_MS, True),
        ("GET /sessions/<100>/explain", "GET", f"/sessions/{SESSION_A}/explain", None, SESSION_TARGET_MS, True),
        ("POST /sessions/compare <100> <100>", "POST", "/sessions/compare", compare, SESSION_TARGET_MS, True),
        ("GET /analytics", "GET", "/analytics", None, ANALYTICS_TARGET_MS, True),
        ("GET /analytics?agent_name=", "GET", "/analytics?" + urlencode({"agent_name": AGENT}), None,
         ANALYTICS_TARGET_MS, False),
        ("GET /analytics?from=now-7d", "GET", "/analytics?" + urlencode({"from": since}), None,
         ANALYTICS_TARGET_MS, False),
    ]


class Client:
    """One keep-alive connection; every /analytics request gets its own nocache parameter."""

    def __init__(self, server):
        self.server, self.conn, self.sequence = server, server.connect(timeout=300), 0

    def request(self, method, path, body=None):
        if path.startswith("/analytics"):
            self.sequence += 1
            path += ("&" if "?" in path else "?") + f"nocache={self.sequence}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        try:
            self.conn.request(method, path, data, headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the server closed the idle connection (gunicorn's keep-alive is 2 s):
            # only the first, unmeasured request after the other server's turn meets this
            self.conn.close()
            self.conn.request(method, path, data, headers)
            response = self.conn.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.server.name} {method} {path}: {response.status} {content[:300]!r}")
        return content

    def close(self):
        self.conn.close()


@dataclass
class Timing:
    times: list  # latencies, ms
    cpu_ms: float | None  # the server's CPU per request

    @property
    def p50(self):
        return statistics.median(self.times)

    def cell(self):
        p90 = statistics.quantiles(self.times, n=10)[-1]
        cpu = "n/a" if self.cpu_ms is None else f"{self.cpu_ms:.2f}"
        return f"{self.p50:8.2f} {p90:7.2f} {cpu:>6s} {len(self.times):4d}"


def measure(client, method, path, body, n, max_seconds):
    """Up to n requests in a row (at least 5, else for at most max_seconds), after 3 unmeasured."""
    for _ in range(3):
        client.request(method, path, body)
    times, cpu_before, started = [], client.server.cpu_seconds(), time.perf_counter()
    while len(times) < n and (len(times) < 5 or time.perf_counter() - started < max_seconds):
        sent = time.perf_counter()
        client.request(method, path, body)
        times.append((time.perf_counter() - sent) * 1000)
    cpu = None if cpu_before is None else (client.server.cpu_seconds() - cpu_before) * 1000 / len(times)
    return Timing(times, cpu)


def events_held(client):
    """How many events the server returns for bench-100-a (the dataset is loaded if any)."""
    held = len(json.loads(client.request("GET", f"/sessions/{SESSION_A}"))["events"])
    if not held:
        sys.exit(f"{client.server.name}: {SESSION_A} has no events: is the dataset loaded?")
    return held


def run_size(label, servers, since, args):
    """Every endpoint on every server, endpoint by endpoint; {(server, name): Timing}."""
    clients = {server.name: Client(server) for server in servers}
    names = list(clients)
    held = ", ".join(f"{name} {events_held(client)}" for name, client in clients.items())
    print(f"\n== {label}  ({load_average()})\n{SESSION_A} returns {held} events; "
          "per server p50 and p90 (ms), the server's CPU per request (ms) and requests:")
    print(f"{'':36s}" + "".join(f"{name:>29s}" for name in names) + "   target p50")
    results = {}
    for name, method, path, body, target, reference_has in endpoints(since):
        for server in servers:
            if server.process is not None or reference_has:
                results[server.name, name] = measure(clients[server.name], method, path, body,
                                                     args.n, args.max_seconds)
        verdict = "met" if results["agentlens", name].p50 <= target else "MISSED"
        print(f"{name:36s}" + "".join(results[n, name].cell() if (n, name) in results else f"{'-':>29}"
                                      for n in names) + f"   <= {target} ms: {verdict}", flush=True)
    for client in clients.values():
        client.close()
    return results


def csv_memory(server):
    """Download the 100k-event session as CSV while sampling the serving processes' RSS."""
    pids = serving_pids(server)
    before = {pid: rss_kb(pid) for pid in pids}
    reset = set()  # processes whose VmHWM was reset to their current RSS (clear_refs "5")
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            reset.add(pid)
        except OSError:
            pass
    peak, done = dict(before), threading.Event()

    def sample():
        while not done.is_set():
            for pid in pids:
                peak[pid] = max(peak[pid], rss_kb(pid))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    conn, size = server.connect(timeout=600), 0
    with tempfile.TemporaryFile("w+b") as out:
        started = time.perf_counter()
        try:
            conn.request("GET", f"/sessions/{HUGE}/export?format=csv")
            response = conn.getresponse()
            while chunk := response.read(64 * 1024):
                out.write(chunk)
                size += len(chunk)
        finally:
            elapsed = time.perf_counter() - started
            done.set()
            sampler.join()
            conn.close()
        hwm = {pid: rss_kb(pid, "VmHWM") if pid in reset else 0 for pid in pids}
        out.seek(0)
        rows = sum(1 for _ in csv.reader(io.TextIOWrapper(out, encoding="utf-8", newline="")))
    growth = max(max(peak[pid], hwm[pid]) - before[pid] for pid in pids) / MB
    expected = dataset.SPECIAL[HUGE] + 1
    verdict = "met" if growth < MEMORY_TARGET_MB and rows == expected else "MISSED"
    print(f"{server.name:10s} CSV of {HUGE}: {size / MB / MB:.1f} MB in {elapsed:.2f} s, {rows:,} rows "
          f"({'right' if rows == expected else f'expected {expected:,}'}); RSS growth of the worst of "
          f"{len(pids)} serving processes {growth:.1f} MB (target < {MEMORY_TARGET_MB} MB: {verdict})")


class Recorder:
    """A connection stand-in that runs each query to the end and records its CPU time."""

    def __init__(self, conn):
        self.conn, self.log = conn, []

    def execute(self, sql, params=()):
        start = time.thread_time()
        rows = self.conn.execute(sql, params).fetchall()
        if sql not in ("BEGIN", "COMMIT"):
            self.log.append((sql, params, (time.thread_time() - start) * 1000))
        return Rows(rows)

    def snapshot(self):
        return self.conn.snapshot()


class Rows(list):
    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


def plans(db, since):
    """Per analytics() query: median CPU time over 5 runs (wall time varies with the
    machine's load) and EXPLAIN QUERY PLAN."""
    conn = connect(db)
    for title, filters in [("analytics()", {}), (f"analytics(agent_name={AGENT!r})", {"agent_name": AGENT}),
                           (f"analytics(started_from={since})", {"started_from": parse_iso(since)})]:
        logs, totals = [], []
        for _ in range(5):
            recorder = Recorder(conn)
            start = time.thread_time()
            analytics(recorder, **filters)
            totals.append((time.thread_time() - start) * 1000)
            logs.append(recorder.log)
        print(f"\n== {title}: {statistics.median(totals):.1f} ms of CPU in-process (median of 5), by query:")
        for i, (sql, params, _) in enumerate(logs[0]):
            print(f"-- {statistics.median(log[i][2] for log in logs):7.2f} ms  {' '.join(sql.split())[:160]}")
            for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params):
                print(f"       {row['detail']}")
    conn.close()


def ensure(n_sessions, n_events):
    path = dataset.dataset_path(n_sessions, n_events)
    if not Path(path).exists():
        print(f"building {path} (bench/dataset.py --sessions {n_sessions} --events {n_events})", flush=True)
        dataset.build(path, n_events, n_sessions, seed=1, now=dataset.midnight_today())
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, help="of the --sessions dataset (default: 3 per session)")
    parser.add_argument("-n", type=int, default=200, help="requests per endpoint and server")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="per endpoint and server")
    parser.add_argument("--gunicorn-args", default=DEFAULT_GUNICORN_ARGS,
                        help=f"gunicorn options (default: {DEFAULT_GUNICORN_ARGS!r})")
    parser.add_argument("--target", help="URL of another server holding the --sessions dataset")
    parser.add_argument("--target-10k", help="URL of another server holding the 10,000-session dataset")
    parser.add_argument("--target-pid", type=int, help="--target's PID (default: who listens on its port)")
    parser.add_argument("--target-name", default="reference")
    parser.add_argument("--plans", action="store_true", help="analytics() query by query, with plans")
    args = parser.parse_args()
    sizes = {SMALL: ensure(SMALL, dataset.default_events(SMALL))}
    sizes[args.sessions] = ensure(args.sessions, args.events or dataset.default_events(args.sessions))
    since = week_ago()
    others = {SMALL: args.target_10k, args.sessions: args.target}
    results = {}
    with tempfile.TemporaryFile("w+") as log:
        for n_sessions, db in sizes.items():
            servers = []
            try:
                servers.append(start_gunicorn(db, args.gunicorn_args, log))
                if others[n_sessions]:
                    servers.append(attach(args.target_name, others[n_sessions],
                                          args.target_pid if n_sessions == args.sessions else None))
                results[n_sessions] = run_size(f"{n_sessions:,} sessions: {db} "
                                               f"({Path(db).stat().st_size / MB / MB:,.0f} MB)",
                                               servers, since, args)
                if n_sessions == args.sessions:
                    print()
                    for server in servers:
                        csv_memory(server)
            except BaseException:
                log.seek(0)
                print("gunicorn log (tail):\n" + "".join(log.readlines()[-20:]), file=sys.stderr)
                raise
            finally:
                for server in servers:
                    stop(server)
    growth(results, args.sessions)
    if args.plans:
        plans(sizes[args.sessions], since)


def growth(results, n_sessions):
    """p50 at n_sessions / p50 at 10,000, per analytics request and server."""
    print(f"\n== analytics growth: p50 at {n_sessions:,} sessions / p50 at {SMALL:,}")
    small, large = results[SMALL], results[n_sessions]
    for (server, name), timing in large.items():
        if name.startswith("GET /analytics") and (server, name) in small:
            before, after = small[server, name].p50, timing.p50
            verdict = "" if server != "agentlens" else (
                f"   (target <= {GROWTH_TARGET}: {'met' if after / before <= GROWTH_TARGET else 'MISSED'}"
                f"; p50 {after:.1f} ms, target <= {ANALYTICS_TARGET_MS} ms: "
                f"{'met' if after <= ANALYTICS_TARGET_MS else 'MISSED'})")
            cpu = ("" if timing.cpu_ms is None else
                   f"  (CPU {small[server, name].cpu_ms:.2f} -> {timing.cpu_ms:.2f} ms"
                   f"  x {timing.cpu_ms / small[server, name].cpu_ms:.2f})")
            print(f"{server:10s} {name:28s} p50 {before:8.2f} -> {after:8.2f} ms  x {after / before:.2f}"
                  f"{cpu}{verdict}")


if __name__ == "__main__":
    main()
