"""The real server under concurrent, interleaved, retried ingest.

On SQLite, one gunicorn (4 gthread workers, so 4 processes writing one file); on
PostgreSQL, two gunicorns (2 workers each) on two ports over one database, as two
hosts would be. Started from the repo root on a new database; 8 client threads
(half on keep-alive connections, half reconnecting per request, spread over the
hosts) send ~200 sessions' events shuffled across batches (events before their session_start,
session_end before the last events, ~4% of batches sent twice); then every
session is checked by value, over HTTP from every host and in the database
itself, and every total and rollup must equal a rebuild from the stored events.
"""
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from agentlens import db, recount

REPO = Path(__file__).resolve().parent.parent
WORKERS = 4
CLIENT_THREADS = 8
SESSIONS = 200
RESEND_SHARE = 0.04
BASE_TIME = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def local_session():
    """A requests session that never goes through a proxy to 127.0.0.1."""
    http = requests.Session()
    http.trust_env = False
    return http


def gunicorn_command():
    """The venv's gunicorn, without the control socket gunicorn >= 25 opens at one
    shared path under $HOME (servers running at once would fight over it)."""
    import gunicorn.config

    sibling = Path(sys.executable).with_name("gunicorn")
    found = str(sibling) if sibling.exists() else shutil.which("gunicorn")
    command = [found] if found else [sys.executable, "-m", "gunicorn"]
    flags = {flag for setting in gunicorn.config.KNOWN_SETTINGS for flag in setting.cli or ()}
    return command + (["--no-control-socket"] if "--no-control-socket" in flags else [])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def start_gunicorn(database, workers, log_path):
    """``(process, base_url)`` of a gunicorn on a free port, once /health answers."""
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AGENTLENS_") and not key.lower().endswith("_proxy")}
    env.update(AGENTLENS_DATABASE=str(database), AGENTLENS_RATE_LIMITS="off",
               AGENTLENS_SECRET_KEY="concurrency-test-secret")  # no instance/secret_key written
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            gunicorn_command() + ["-w", str(workers), "-k", "gthread", "--threads", "1",
                                  "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with local_session() as http:
        while True:
            if proc.poll() is not None:
                return proc, None
            if time.monotonic() > deadline:
                return proc, None
            try:
                if http.get(f"{base}/health", timeout=2).status_code == 200:
                    return proc, base
            except (requests.ConnectionError, requests.Timeout):  # still starting
                pass
            time.sleep(0.1)


def stop_gunicorn(proc):
    proc.send_signal(signal.SIGINT)  # this PID only: gunicorn's quick shutdown of its workers
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def servers(store, new_database, tmp_path):
    """``(base_urls, database, log_paths)``: one gunicorn with 4 workers on SQLite, two
    with 2 workers each (two hosts) on PostgreSQL."""
    database = new_database()
    layout = [4] if store == "sqlite" else [2, 2]
    started, bases, logs = [], [], []
    try:
        for number, workers in enumerate(layout):
            log_path = tmp_path / f"gunicorn-{number}.log"
            proc, base = start_gunicorn(database, workers, log_path)
            started.append(proc)
            assert base is not None, f"gunicorn did not start:\n{log_path.read_text()}"
            bases.append(base)
            logs.append(log_path)
        yield bases, database, logs
    finally:
        for proc in started:
            stop_gunicorn(proc)


def make_sessions(rng):
    """Each session: events in time order and the values the server must end with."""
    sessions = {}
    for n in range(SESSIONS):
        sid = f"conc-{n:03d}"
        start = BASE_TIME + timedelta(minutes=n)
        calls = rng.randint(8, 30)
        status = rng.choice(["completed", "error", None])  # None: session_end without status
        start_event = {"event_type": "session_start", "session_id": sid,
                       "agent_name": f"agent-{n % 7}", "metadata": {"run": n},
                       "timestamp": iso(start)}
        end_event = {"event_type": "session_end", "session_id": sid,
                     "timestamp": iso(start + timedelta(seconds=calls + 1))}
        if status:
            end_event["status"] = status
        if n % 2:  # half give lifecycle ids; the others get <sid>:session_start / :session_end
            start_event["event_id"], end_event["event_id"] = f"{sid}-start", f"{sid}-end"
        events = [start_event]
        for i in range(1, calls + 1):
            events.append({
                "event_type": "llm_call", "session_id": sid, "event_id": f"{sid}-call-{i}",
                "model": rng.choice(["gpt-4", "claude-3"]), "duration_ms": rng.uniform(5, 900),
                "tokens_in": rng.randint(0, 5000), "tokens_out": rng.randint(0, 2000),
                "input_data": {"prompt": f"step {i} of {sid}"}, "output_data": {"text": "ok " * i},
                "timestamp": iso(start + timedelta(seconds=i)),
            })
        events.append(end_event)
        sessions[sid] = {
            "events": events,
            "event_ids": {e.get("event_id", f"{sid}:{e['event_type']}") for e in events},
            "tokens_in": sum(e.get("tokens_in", 0) for e in events),
            "tokens_out": sum(e.get("tokens_out", 0) for e in events),
            "agent_name": start_event["agent_name"],
            "status": status or "completed",
            "started_at": start_event["timestamp"],
            "ended_at": end_event["timestamp"],
        }
    return sessions


def make_batches(rng, sessions):
    """All events shuffled into batches of 1-40; some batches appear twice in the plan."""
    events = [e for s in sessions.values() for e in s["events"]]
    rng.shuffle(events)
    batches = []
    while events:
        size = rng.randint(1, 40)
        batches.append(events[:size])
        events = events[size:]
    resent = rng.sample(range(len(batches)), max(3, round(RESEND_SHARE * len(batches))))
    plan = list(batches)
    for index in resent:  # the copy goes somewhere later, maybe in flight at the same time
        plan.insert(rng.randint(index + 1, len(plan)), batches[index])
    return batches, plan, sum(len(batches[i]) for i in resent)


def send_all(bases, plan):
    """POST every batch from CLIENT_THREADS threads; returns [(batch, status, body text)]."""
    work = queue.Queue()
    for batch in plan:
        work.put(batch)
    results, errors = [], []

    def client(keep_alive, base):
        # Keep-alive connections stay with the worker that accepted them (and gthread
        # workers accept unevenly), so half the threads reconnect for every request:
        # that spreads batches over all worker processes, whatever the kernel does.
        headers = {} if keep_alive else {"Connection": "close"}
        with local_session() as http:
            while True:
                try:
                    batch = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    response = http.post(f"{base}/events", json={"events": batch},
                                         headers=headers, timeout=60)
                    results.append((batch, response.status_code, response.text))
                except Exception as error:  # reported by the test, not lost in a thread
                    errors.append(repr(error))

    threads = [threading.Thread(target=client, args=(n % 2 == 0, bases[n % len(bases)]))
               for n in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], errors[:3]
    return results


def test_concurrent_interleaved_retried_ingest_is_exact(servers):
    bases, database, log_paths = servers
    rng = random.Random(20260301)
    sessions = make_sessions(rng)
    batches, plan, resent_events = make_batches(rng, sessions)

    # The plan really has the orders the server must tolerate.
    position = {}
    for index, batch in enumerate(batches):
        for event in batch:
            position[(event["session_id"], event.get("event_id"), event["event_type"])] = index
    early_events = late_events = 0
    for sid, s in sessions.items():
        start, *calls, end = [position[(sid, e.get("event_id"), e["event_type"])] for e in s["events"]]
        early_events += min(calls) < start
        late_events += max(calls) > end
    assert early_events > 20 and late_events > 20

    results = send_all(bases, plan)

    assert len(results) == len(plan)
    statuses = Counter(status for _, status, _ in results)
    assert not [s for s in statuses if s >= 500], statuses
    assert not [text for _, _, text in results if "database is locked" in text.lower()]
    assert statuses == {200: len(plan)}, [text for _, status, text in results if status != 200][:3]
    duplicates = 0
    for batch, _, text in results:
        body = json.loads(text)
        assert body["status"] == "ok" and body["processed"] == len(batch), body
        assert "rejected" not in body, body
        duplicates += body.get("duplicates", 0)
    assert duplicates == resent_events

    # In the database: each event exactly once, nothing else, and every total and
    # rollup what a rebuild from the stored events gives.
    expected_ids = {i for s in sessions.values() for i in s["event_ids"]}
    with closing(db.connect(str(database))) as conn:
        rows = [tuple(row) for row in conn.execute("SELECT event_id, session_id FROM events")]
        stored_sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        assert recount.check(conn) == []
    assert len(rows) == len(expected_ids) == sum(len(b) for b in batches)
    assert {event_id for event_id, _ in rows} == expected_ids
    per_session = defaultdict(int)
    for _, sid in rows:
        per_session[sid] += 1
    assert per_session == {sid: len(s["events"]) for sid, s in sessions.items()}
    assert stored_sessions == SESSIONS

    # Over HTTP, from every host: every session by value.
    for base in bases:
        check_over_http(base, sessions)
    for log_path in log_paths:
        log = log_path.read_text(errors="replace")
        assert "database is locked" not in log and "Traceback" not in log, log[-3000:]


def check_over_http(base, sessions):
    with local_session() as http:
        listed = http.get(f"{base}/sessions", params={"limit": 1}, timeout=30)
        assert listed.status_code == 200 and listed.json()["total"] == SESSIONS
        for sid, s in sessions.items():
            response = http.get(f"{base}/sessions/{sid}", timeout=30)
            assert response.status_code == 200, (sid, response.text)
            got = response.json()
            assert len(got["events"]) == len(s["events"]), sid
            assert {e["event_id"] for e in got["events"]} == s["event_ids"], sid
            assert (got["total_tokens_in"], got["total_tokens_out"]) == (s["tokens_in"], s["tokens_out"]), sid
            assert got["agent_name"] == s["agent_name"], sid
            assert got["metadata"] == {"run": int(sid.rsplit("-", 1)[1])}, sid
            assert got["status"] == s["status"], sid
            assert (got["started_at"], got["ended_at"]) == (s["started_at"], s["ended_at"]), sid


def kill_tree(proc):
    """SIGKILL a gunicorn master and its workers, by PID: a host that dies."""
    workers = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and parent_of(pid) == proc.pid]
    for pid in [proc.pid, *workers]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def parent_of(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return None


def test_a_host_killed_mid_load_loses_nothing_acknowledged(postgresql_database, tmp_path):
    """Two hosts over one PostgreSQL; one is SIGKILLed while 8 clients write to both.
    A client whose request fails sends it again to the other host, as a load balancer
    would: every event ends up stored once and every total equals a recount."""
    database = postgresql_database.new_schema()
    procs = [start_gunicorn(database, 2, tmp_path / f"host-{n}.log") for n in range(2)]
    try:
        assert all(base for _, base in procs), [p.read_text() for p in tmp_path.glob("*.log")]
        (doomed, first), (_, second) = procs
        rng = random.Random(20261202)
        sessions = make_sessions(rng)
        _, plan, _ = make_batches(rng, sessions)
        work, errors, sent = queue.Queue(), [], []
        for batch in plan:
            work.put(batch)

        def client(number):
            preferred = [first, second] if number % 2 else [second, first]
            with local_session() as http:
                while True:
                    try:
                        batch = work.get_nowait()
                    except queue.Empty:
                        return
                    for attempt in range(6):
                        base = preferred[attempt % 2]
                        try:
                            response = http.post(f"{base}/events", json={"events": batch},
                                                 headers={"Connection": "close"}, timeout=30)
                        except requests.RequestException:
                            continue
                        if response.status_code == 200:
                            sent.append(len(batch))
                            break
                    else:
                        errors.append(batch)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        while len(sent) < len(plan) // 3:
            time.sleep(0.01)
        kill_tree(doomed)
        for thread in threads:
            thread.join()
        assert errors == [] and len(sent) == len(plan)
        with closing(db.connect(database)) as conn:
            stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(stored)
            assert recount.check(conn) == []
        assert stored == {i for s in sessions.values() for i in s["event_ids"]}
        check_over_http(second, sessions)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                stop_gunicorn(proc)
