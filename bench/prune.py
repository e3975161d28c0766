"""Prune a copy of a benchmark database while gunicorn takes events.

    python bench/prune.py [--db /tmp/agentlens-bench.sqlite3] [--older-than 30d] [--clients 2]

1. Copies --db (built by dataset.py) to a temporary file beside it and upgrades the copy
   with ``agentlens init-db``, as the first start after upgrading does (a database made
   before schema step 101 is rewritten once by VACUUM): time and file sizes.
2. Starts ``gunicorn -w 2 -k gthread`` on the copy (reads.py's start_server) and sends
   batches of 10 new events from --clients keep-alive clients until the end.
3. Runs ``agentlens prune --older-than X --dry-run``, then ``agentlens prune --older-than X``,
   and prints their output and the prune's wall time.
4. Ingest during the prune: requests, any that did not answer 200, latency p50/p99/max.
The copy is removed at the end.
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

from reads import start_server, stop_server  # bench/ is the script's directory

AGENTLENS = str(Path(sys.executable).parent / "agentlens")


def agentlens(database, *args):
    started = time.perf_counter()
    result = subprocess.run([AGENTLENS, *args], capture_output=True, text=True, check=True,
                            env={**os.environ, "AGENTLENS_DATABASE": database})
    return result.stdout.strip(), time.perf_counter() - started


class Client(threading.Thread):
    def __init__(self, base):
        super().__init__(daemon=True)
        self.base, self.latencies, self.failures = base, [], []
        self.stopping = threading.Event()

    def run(self):
        http = requests.Session()
        while not self.stopping.is_set():
            session_id = f"prune-bench-{uuid.uuid4().hex[:12]}"
            events = [{"event_type": "llm_call", "session_id": session_id, "event_id": f"e{i}",
                       "model": "gpt-4o", "tokens_in": 100, "tokens_out": 20,
                       "input_data": {"prompt": "x" * 400}} for i in range(10)]
            started = time.perf_counter()
            response = http.post(self.base + "/events", json={"events": events}, timeout=60)
            self.latencies.append((started, time.perf_counter() - started))
            if response.status_code != 200:
                self.failures.append((response.status_code, response.text[:200]))


def sizes(database):
    return " + ".join(f"{os.path.getsize(path) / 1e6:,.1f} MB" for path in
                      (database, f"{database}-wal") if os.path.exists(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="/tmp/agentlens-bench.sqlite3")
    parser.add_argument("--older-than", default="30d")
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    copy = f"{args.db}.prune-bench"
    shutil.copyfile(args.db, copy)
    server = None
    try:
        print(f"copy of {args.db}: {sizes(copy)}")
        output, elapsed = agentlens(copy, "init-db")
        print(f"init-db (the first start after upgrading): {elapsed:.1f} s; {output}; {sizes(copy)}")
        os.environ["AGENTLENS_DATABASE"] = copy
        server, base = start_server(copy, "wsgi:app")
        clients = [Client(base) for _ in range(args.clients)]
        for client in clients:
            client.start()
        time.sleep(2)
        output, _ = agentlens(copy, "prune", "--older-than", args.older_than, "--dry-run")
        print(output)
        began = time.perf_counter()
        output, elapsed = agentlens(copy, "prune", "--older-than", args.older_than)
        ended = time.perf_counter()
        print(f"{output}\nprune: {elapsed:.1f} s")
        for client in clients:
            client.stopping.set()
            client.join(60)
        during = sorted(latency for client in clients for started, latency in client.latencies
                        if began <= started < ended)
        failures = [failure for client in clients for failure in client.failures]
        print(f"ingest during the prune: {len(during)} requests of 10 events, "
              f"{len(failures)} not 200 {failures[:3]}; latency p50 {during[len(during) // 2] * 1000:.0f} ms, "
              f"p99 {during[len(during) * 99 // 100] * 1000:.0f} ms, max {during[-1] * 1000:.0f} ms")
    finally:
        if server is not None:
            stop_server(server)
        for path in (copy, f"{copy}-wal", f"{copy}-shm"):
            if os.path.exists(path):
                os.unlink(path)


if __name__ == "__main__":
    main()
