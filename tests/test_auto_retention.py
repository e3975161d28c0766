"""AGENTLENS_RETENTION_DAYS under a real gunicorn with two workers: the server prunes by
itself in small batches while ingest keeps succeeding (no "database is locked", no
5xx), and one worker at a time prunes (the lease)."""
import re
import sqlite3
import threading
import time
from pathlib import Path

import requests

import server
from agentlens import create_app, recount
from agentlens.db import connect, get_db
from agentlens.rules import DAY_MS
from agentlens.timestamps import format_ms, now_ms

CONF = Path(__file__).parent / "retention_gunicorn_conf.py"
OLD_SESSIONS = 2000  # 4 events each: 10 batches of 200 sessions
LOG_LINE = re.compile(r"^(\d+) agentlens\.auto_retention retention: (.*)$", re.M)


def prefill(database):
    """Sessions last active 60 days ago, stored in this process (then its connection closed)."""
    app = create_app({"DATABASE": str(database), "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": server.SECRET_KEY})
    client, old = app.test_client(), now_ms() - 60 * DAY_MS
    events = [{"event_type": kind, "session_id": f"old-{number}", "event_id": f"e{index}",
               "tokens_in": 1, "input_data": {"prompt": "x" * 1000},
               "timestamp": format_ms(old + number + index)}
              for number in range(OLD_SESSIONS)
              for index, kind in enumerate(("session_start", "llm_call", "tool_call", "llm_call"))]
    for event in events[::4]:
        event["agent_name"] = "old-agent"
    for start in range(0, len(events), 1000):
        response = client.post("/events", json={"events": events[start:start + 1000]})
        assert response.get_json() == {"status": "ok", "processed": 1000}
    with app.app_context():
        get_db().close()


class Load(threading.Thread):
    """Until stopped: new sessions of 10 events over a keep-alive connection, or reads over
    a new connection each time (so that both workers serve, and look at the lease)."""

    def __init__(self, live, name, reads=False):
        super().__init__(daemon=True)
        self.live, self.name, self.reads = live, name, reads
        self.acked, self.statuses, self.slowest, self.error = 0, [], 0.0, None
        self.stopping = threading.Event()

    def request(self, http, number):
        if self.reads:
            return http.get(self.live.url + ("/analytics", "/sessions")[number % 2], timeout=30)
        events = [{"event_type": "llm_call", "session_id": f"{self.name}-{number}",
                   "event_id": f"e{index}", "tokens_in": 2} for index in range(10)]
        return http.post(self.live.url + "/events", json={"events": events}, timeout=30)

    def run(self):
        http = requests.Session()
        http.trust_env = False
        number = 0
        try:
            while not self.stopping.is_set():
                if self.reads:
                    http.close()
                started = time.monotonic()
                response = self.request(http, number)
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.statuses.append(response.status_code)
                if not self.reads and response.json() == {"status": "ok", "processed": 10}:
                    self.acked += 1
                number += 1
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            http.close()

    def stop(self):
        self.stopping.set()
        self.join(30)
        assert self.error is None, self.error


def retention_lines(live):
    """``[(pid of the worker, message)]`` of the automatic policy, in the order written."""
    return [(int(pid), message) for pid, message in LOG_LINE.findall(live.log())]


def holder_pid(holder):
    return int(holder.split(":")[1])


def other_worker_was_refused(lines):
    return any(pid != holder_pid(holder) for pid, message in lines
               for holder in re.findall(r"^lease held by (\S+), not running$", message))


def old_sessions_left(database):
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sessions WHERE session_id LIKE 'old-%'").fetchone()[0]
    finally:
        conn.close()


def test_the_server_prunes_in_batches_while_ingest_flows_one_worker_at_a_time(tmp_path):
    directory = tmp_path / "server"
    directory.mkdir()
    prefill(directory / "agentlens.sqlite3")
    live = server.start_server(directory, config=CONF, environment={
        "AGENTLENS_RETENTION_DAYS": "30", "AGENTLENS_RETENTION_INTERVAL_SECONDS": "1"})
    loads = [Load(live, "live-a"), Load(live, "live-b"), Load(live, "reader", reads=True)]
    try:
        for load in loads:
            load.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
                old_sessions_left(live.database) == 0
                and any(message.split()[1:2] == ["finished"] for _, message in retention_lines(live))
                and other_worker_was_refused(retention_lines(live))):
            time.sleep(0.2)
        for load in loads:
            load.stop()
    finally:
        live.stop(graceful=True)  # the log must hold no traceback: none cut off by the stop

    log = live.log()
    assert old_sessions_left(live.database) == 0, log
    assert "database is locked" not in log and "Traceback" not in log, log
    statuses = [status for load in loads for status in load.statuses]
    assert set(statuses) == {200} and len(statuses) > 100, sorted(set(statuses))
    assert max(load.slowest for load in loads) < 5, [load.slowest for load in loads]

    # One run at a time: between a holder's "started" and its "finished", nobody else
    # starts or deletes; the first run deleted every old session, in batches.
    lines = retention_lines(live)
    running = None
    runs = []
    for pid, message in lines:
        holder, _, rest = message.partition(" ")
        if rest.startswith("started"):
            assert running is None, (running, message)
            running = holder
            runs.append([holder, 0])
            assert holder_pid(holder) == pid
        elif rest.startswith("deleted"):
            assert holder == running, (running, message)
            runs[-1][1] += 1
        elif rest.startswith("finished"):
            assert holder == running, (running, message)
            running = None
    first = next(line for _, line in lines if " finished in " in line)
    assert re.search(rf"{OLD_SESSIONS} sessions and {4 * OLD_SESSIONS} events in 10 batches", first)
    assert runs[0][1] == 10
    assert other_worker_was_refused(lines), lines
    assert len({holder_pid(holder) for holder, _ in runs} | {pid for pid, _ in lines}) == 2

    # Every acknowledged batch is stored once, and every total agrees with the events.
    conn = connect(str(live.database))
    try:
        stored = conn.execute("SELECT count(*) FROM events WHERE session_id LIKE 'live-%'").fetchone()[0]
        assert stored == 10 * sum(load.acked for load in loads)
        assert recount.check(conn) == []
    finally:
        conn.close()
