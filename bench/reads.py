"""Read latencies and export memory against a real gunicorn server.

    python bench/reads.py [--db /tmp/agentlens-bench.sqlite3] [-n 50]

Starts ``gunicorn -w 2 -k gthread wsgi:app`` from the repo root on a free
127.0.0.1 port (AGENTLENS_DATABASE=<db>, rate limits off), measures each
target endpoint ``-n`` times in a row over one keep-alive connection, measures
the worker's RSS while it streams the 100k-event CSV export, then prints the
query plans and per-query times of /analytics and /sessions/compare, taken by
running the app's own read functions on a recording connection.
Needs a database built by ``bench/dataset.py``.
"""
import argparse
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from agentlens.db import connect
from agentlens.read.analytics import analytics
from agentlens.read.compare import session_metrics

ROOT = Path(__file__).resolve().parent.parent
ONE_K_A, ONE_K_B, HUNDRED_K = "bench-1k-a", "bench-1k-b", "bench-100k"
MB = 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db, app):
    port = free_port()
    env = {**os.environ, "AGENTLENS_DATABASE": db, "AGENTLENS_RATE_LIMITS": "off"}
    env.pop("AGENTLENS_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", app], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(base + "/health", timeout=1).ok and len(workers(server.pid)) == 2:
                return server, base
        except requests.RequestException:  # refused, or slow to answer on a busy machine
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not come up")


def stop_server(server):
    server.send_signal(signal.SIGTERM)  # the master stops its workers
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def workers(master):
    """PIDs of the processes whose parent is ``master``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(entry.name))
            except (OSError, IndexError):
                pass
    return pids


def status_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def timed(n, call):
    """Run ``call`` n times; return the latencies in ms."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return times


def report(name, times, target_ms):
    p50 = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    verdict = "PASS" if p50 <= target_ms else "MISS"
    print(f"{name:<44} p50 {p50:7.1f}  p90 {p90:7.1f}  max {max(times):7.1f} ms"
          f"   target p50 <= {target_ms} ms  {verdict}")
    return verdict


def csv_memory(db, base, master, http):
    """Download the 100k CSV while sampling the workers' VmRSS; return the verdict."""
    pids = workers(master)
    before = {pid: status_kb(pid, "VmRSS") for pid in pids}
    reset = set()  # workers whose VmHWM was reset to the current RSS (Linux clear_refs "5")
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
                peak[pid] = max(peak[pid], status_kb(pid, "VmRSS"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    size = 0
    with tempfile.TemporaryFile("w+b") as out:
        start = time.perf_counter()
        try:
            with http.get(f"{base}/sessions/{HUNDRED_K}/export", params={"format": "csv"}, stream=True) as r:
                r.raise_for_status()
                for chunk in r.iter_content(64 * 1024):
                    out.write(chunk)
                    size += len(chunk)
        finally:
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
        hwm = {pid: status_kb(pid, "VmHWM") if pid in reset else 0 for pid in pids}
        out.seek(0)
        rows = sum(1 for _ in csv.reader((line.decode() for line in out)))
    conn = connect(db)
    expected = conn.execute("SELECT count(*) FROM events WHERE session_id = ?", (HUNDRED_K,)).fetchone()[0]
    conn.close()
    growth = max(max(peak[pid], hwm[pid]) - before[pid] for pid in pids) / 1024
    print(f"CSV export {HUNDRED_K}: {size / MB:.1f} MB in {elapsed:.2f} s ({size / MB / elapsed:.1f} MB/s), "
          f"{rows:,} CSV rows for {expected:,} events + header: {'OK' if rows == expected + 1 else 'WRONG'}")
    for pid in pids:
        print(f"  worker {pid}: VmRSS before {before[pid] / 1024:.1f} MB, sampled peak "
              f"{peak[pid] / 1024:.1f} MB, VmHWM after {hwm[pid] / 1024:.1f} MB")
    verdict = "PASS" if growth < 50 and rows == expected + 1 else "MISS"
    print(f"{'CSV export: peak RSS growth of the worker':<44} {growth:.1f} MB   target < 50 MB  {verdict}")
    return verdict


class Recorder:
    """A connection stand-in that runs each query to the end and records its time."""

    def __init__(self, conn):
        self.conn, self.log = conn, []

    def execute(self, sql, params=()):
        start = time.perf_counter()
        rows = self.conn.execute(sql, params).fetchall()
        if sql not in ("BEGIN", "COMMIT"):
            self.log.append((sql, params, (time.perf_counter() - start) * 1000))
        return Rows(rows)


class Rows(list):
    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


def explain(db, title, run, repeat=5):
    """Per query: median time over ``repeat`` runs and EXPLAIN QUERY PLAN; plus the whole call."""
    conn = connect(db)
    logs, totals = [], []
    for _ in range(repeat):
        recorder = Recorder(conn)
        start = time.perf_counter()
        run(recorder)
        totals.append((time.perf_counter() - start) * 1000)
        logs.append(recorder.log)
    print(f"\n== {title}: {statistics.median(totals):.1f} ms in-process (median of {repeat}), by query:")
    for i, (sql, params, _) in enumerate(logs[0]):
        ms = statistics.median(log[i][2] for log in logs)
        print(f"-- {ms:7.2f} ms  {' '.join(sql.split())[:150]}")
        for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params):
            print(f"       {row['detail']}")
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="/tmp/agentlens-bench.sqlite3")
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--app", default="wsgi:app", help="WSGI app for gunicorn (to measure a variant)")
    args = parser.parse_args()
    if not Path(args.db).exists():
        sys.exit(f"{args.db} does not exist: build it with bench/dataset.py")
    compare_body = {"session_a": ONE_K_A, "session_b": ONE_K_B}
    endpoints = [  # (name, request, target p50 ms)
        ("GET /analytics", lambda h, b: h.get(f"{b}/analytics"), 50),
        ("POST /sessions/compare (2 x 1k events)",
         lambda h, b: h.post(f"{b}/sessions/compare", json=compare_body), 30),
        ("GET /sessions/<1k>", lambda h, b: h.get(f"{b}/sessions/{ONE_K_A}"), 30),
        ("GET /sessions/<1k>/export?format=json",
         lambda h, b: h.get(f"{b}/sessions/{ONE_K_A}/export", params={"format": "json"}), 30),
    ]
    server, base = start_server(args.db, args.app)
    verdicts = []
    try:
        print(f"gunicorn master {server.pid}, workers {workers(server.pid)}, {base}, db {args.db} "
              f"({Path(args.db).stat().st_size / MB:.0f} MB)")
        with requests.Session() as http:
            for _ in range(3):  # warm up: app import, migration check, page cache
                for _, call, _ in endpoints:
                    call(http, base).raise_for_status()
                http.get(f"{base}/sessions/{ONE_K_A}/export", params={"format": "csv"}).raise_for_status()
            verdicts.append(csv_memory(args.db, base, server.pid, http))
            for name, call, target in endpoints:
                verdicts.append(report(name, timed(args.n, lambda: call(http, base)), target))
    finally:
        stop_server(server)
    explain(args.db, "analytics()", analytics)
    explain(args.db, "session_metrics() x 2 (compare)",
            lambda conn: [session_metrics(conn, s) for s in (ONE_K_A, ONE_K_B)])
    print(f"\n{verdicts.count('PASS')} PASS, {verdicts.count('MISS')} MISS")


if __name__ == "__main__":
    main()
