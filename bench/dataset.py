"""Build a large AgentLens database through the real ingest path.

    python bench/dataset.py [--sessions 10000] [--events 3 per session] [--db PATH]
    python bench/dataset.py --sessions N [--events M] --target http://127.0.0.1:PORT

Every event goes through ``agentlens.parse_batch`` + ``store_batch`` in
batches of 1000, in an app context (what ``POST /events`` does, minus HTTP),
into ``--db`` (default: dataset_path(N, M), the file bench/reads.py looks for).
With ``--target``, the same events are sent instead to that server's
``POST /events`` in batches of 500, over one keep-alive connection (to load
another server with the same data; not resumable).

Events arrive in timestamp order across sessions, so long sessions interleave
with others as they would in production. Three fixed sessions are included:
``bench-100-a`` and ``bench-100-b`` (100 stored events each) and ``bench-100k``
(100,000), all counting towards ``--events`` (stored rows, session_start and
session_end included); by default every other session has 3 events.

Generation is deterministic (``--seed``, ``--now``), so an interrupted build
resumes: batches are stored whole, and the events already stored are skipped.
"""
import argparse
import heapq
import http.client
import json
import random
import sys
import time
import uuid
from urllib.parse import urlsplit

from agentlens import create_app
from agentlens.db import get_db
from agentlens.ingest.formats import agentlens
from agentlens.ingest.store import store_batch
from agentlens.timestamps import format_ms, now_ms

BATCH = 1000
DAY_MS = 86_400_000
TARGET_BATCH = 500  # the reference backend's largest batch
SPECIAL = {"bench-100-a": 100, "bench-100-b": 100, "bench-100k": 100_000}
MODELS = [("gpt-4o", 40), ("gpt-4o-mini", 25), ("claude-sonnet-4", 25), ("claude-haiku-3.5", 10)]
TOOLS = ["web_search", "fetch_page", "sql_query", "python_exec", "read_file", "write_file",
         "send_email", "vector_search", "calendar_lookup", "http_request"]
AGENTS = [f"{kind}-agent-{n}" for kind in ("research", "support", "coding", "sales", "ops")
          for n in range(10)]
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1]
WORDS = ("the agent checks order status customer invoice retry timeout summary report data "
         "query result user request plan step tool answer context search page cache error "
         "refund shipping account policy draft review test build deploy metric").split()


def text(rng, low, high):
    out, size, target = [], 0, rng.randint(low, high)
    while size < target:
        out.append(rng.choice(WORDS))
        size += len(out[-1]) + 1
    return " ".join(out).capitalize() + "."


def counted_event(rng, session_id, ts, parent):
    """One llm_call / tool_call / decision / error event, ~300-800 bytes of JSON."""
    event = {"session_id": session_id, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
             "timestamp": format_ms(ts)}
    kind = rng.choices(("llm_call", "tool_call", "decision", "error"), (46, 36, 15, 3))[0]
    event["event_type"] = kind
    if kind == "llm_call":
        event.update(
            model=rng.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0],
            tokens_in=rng.randint(150, 4000), tokens_out=rng.randint(20, 1200),
            duration_ms=round(rng.uniform(300, 8000), 1),
            input_data={"messages": [{"role": "user", "content": text(rng, 80, 260)}]},
            output_data={"content": text(rng, 60, 240), "finish_reason": "stop"},
            metadata={"temperature": rng.choice((0, 0.2, 0.7))})
    elif kind == "tool_call":
        name = rng.choice(TOOLS)
        ok = rng.random() > 0.03
        tool = {"name": name, "input": {"query": text(rng, 30, 120), "limit": rng.randint(1, 50)},
                "output": {"result": text(rng, 60, 300)} if ok else None, "success": ok}
        if not ok:
            tool["error"] = "timed out after 5s"
        event.update(tool_call=tool, duration_ms=round(rng.uniform(5, 2000), 1), parent_id=parent)
    elif kind == "decision":
        event["decision_trace"] = {"reasoning": text(rng, 150, 450),
                                   "options": rng.sample(TOOLS, 3), "confidence": round(rng.random(), 2)}
    else:
        event["output_data"] = {"error": text(rng, 40, 160), "type": rng.choice(
            ("TimeoutError", "RateLimitError", "ValidationError")), "retryable": rng.random() < 0.5}
    return event


def session_events(seed, index, session_id, size, start):
    """``(ts, event)`` in time order for one session of ``size`` stored events."""
    rng = random.Random(seed * 1_000_003 + index)
    special = session_id in SPECIAL
    has_start = special or rng.random() < 0.98
    has_end = special or rng.random() < 0.95
    counted = size - has_start - has_end
    ts = start
    if has_start:
        yield ts, {"event_type": "session_start", "session_id": session_id, "timestamp": format_ms(ts),
                   "agent_name": rng.choice(AGENTS), "metadata": {"version": f"1.{rng.randint(0, 9)}"}}
    parent = None
    for _ in range(counted):
        ts += rng.randint(200, 4000 if not special else 1500)
        event = counted_event(rng, session_id, ts, parent)
        parent = event["event_id"] if event["event_type"] == "llm_call" else parent
        yield ts, event
    if has_end:
        ts += rng.randint(100, 2000)
        # ended_at: what the reference backend reads for the end time (AgentLens ignores it)
        yield ts, {"event_type": "session_end", "session_id": session_id, "timestamp": format_ms(ts),
                   "ended_at": format_ms(ts), "status": "error" if rng.random() < 0.1 else "completed"}


def plan(seed, n_events, n_sessions, now):
    """``[(session_id, size, start_ms)]``: sizes average the rest of the events (min 3)."""
    rng = random.Random(seed)
    rest = n_events - sum(SPECIAL.values())
    others = n_sessions - len(SPECIAL)
    if others < 1 or rest < 3 * others:
        sys.exit(f"--events must be at least {sum(SPECIAL.values()) + 3 * max(others, 1):,} "
                 f"for {n_sessions:,} sessions (the fixed sessions hold {sum(SPECIAL.values()):,})")
    sizes = [rng.randint(10, 170) for _ in range(others)]
    scale = rest / sum(sizes)
    sizes = [max(3, round(s * scale)) for s in sizes]
    missing = rest - sum(sizes)
    while missing:  # fix rounding, one event at a time
        i = rng.randrange(others)
        step = 1 if missing > 0 else -1
        if sizes[i] + step >= 3:
            sizes[i] += step
            missing -= step
    def start():
        day = now - rng.randint(1, 120) * DAY_MS
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        return day - day % DAY_MS + hour * 3_600_000 + rng.randrange(3_600_000)
    sessions = [(f"sess-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}", size, start()) for size in sizes]
    sessions += [(sid, size, now - rng.randint(3, 30) * DAY_MS) for sid, size in SPECIAL.items()]
    return sessions


def stream(seed, n_events, n_sessions, now):
    """All events in timestamp order across sessions (ties: in plan order).

    A session's generator starts only when the merge reaches its start time, so
    memory holds the sessions open at that moment, not all of them."""
    sessions = plan(seed, n_events, n_sessions, now)
    by_start = iter(sorted(range(len(sessions)), key=lambda i: (sessions[i][2], i)))
    heap, waiting = [], next(by_start, None)  # heap: (ts, session index, event, generator)
    while heap or waiting is not None:
        while waiting is not None and (not heap or sessions[waiting][2] <= heap[0][0]):
            generator = session_events(seed, waiting, *sessions[waiting])
            ts, event = next(generator)
            heapq.heappush(heap, (ts, waiting, event, generator))
            waiting = next(by_start, None)
        ts, index, event, generator = heapq.heappop(heap)
        yield event
        following = next(generator, None)
        if following is not None:
            heapq.heappush(heap, (following[0], index, following[1], generator))


def batches(events, size, skip=0):
    """Lists of ``size`` events (the last one shorter), after the first ``skip``."""
    batch = []
    for seen, event in enumerate(events, 1):
        if seen > skip:
            batch.append(event)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def progress(total, new, started):
    print(f"  {total:>10,} events  {new / (time.perf_counter() - started):,.0f} events/s", flush=True)


def build(db, n_events, n_sessions, seed, now):
    app = create_app({"DATABASE": db, "RATELIMIT_ENABLED": False})
    with app.app_context():
        conn = get_db()
        done = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        if done:
            print(f"{db}: {done:,} events already stored, resuming", flush=True)
        stored, started = 0, time.perf_counter()
        for batch in batches(stream(seed, n_events, n_sessions, now), BATCH, skip=done):
            events, rejected = agentlens.parse_batch(
                {"events": batch}, max_batch=BATCH, max_field_bytes=app.config["MAX_FIELD_BYTES"])
            if rejected:
                sys.exit(f"rejected: {rejected[:3]}")
            stored += store_batch(conn, events).stored
            if stored % 100_000 < BATCH:
                progress(done + stored, stored, started)
        elapsed = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        totals = conn.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM sessions)").fetchone()
    print(f"stored {stored:,} events in {elapsed:.1f} s ({stored / max(elapsed, 1e-9):,.0f} events/s); "
          f"{db}: {totals[0]:,} events, {totals[1]:,} sessions")


def send(url, n_events, n_sessions, seed, now):
    """The same events to another server's POST /events."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    sent, started = 0, time.perf_counter()
    for batch in batches(stream(seed, n_events, n_sessions, now), TARGET_BATCH):
        conn.request("POST", "/events", json.dumps({"events": batch}), {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"{url}: {response.status} {body[:300]!r}")
        sent += len(batch)
        if sent % 100_000 < TARGET_BATCH:
            progress(sent, sent, started)
    conn.close()
    print(f"sent {sent:,} events to {url} in {time.perf_counter() - started:.1f} s")


def dataset_path(n_sessions, n_events):
    return f"/tmp/agentlens-bench-{n_sessions}s-{n_events}e.sqlite3"


def default_events(n_sessions):
    """3 events for each session but the fixed ones."""
    return sum(SPECIAL.values()) + 3 * (n_sessions - len(SPECIAL))


def midnight_today():
    return now_ms() // DAY_MS * DAY_MS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--events", type=int, help="stored events in all (default: 3 per session)")
    parser.add_argument("--db", help="default: /tmp/agentlens-bench-<sessions>s-<events>e.sqlite3")
    parser.add_argument("--target", help="send the events to this server's POST /events instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", type=int, default=None,
                        help="epoch ms the 120 days end at (default: today, midnight UTC; fix it to resume)")
    args = parser.parse_args()
    events = args.events or default_events(args.sessions)
    now = args.now or midnight_today()
    if args.target:
        send(args.target, events, args.sessions, args.seed, now)
    else:
        build(args.db or dataset_path(args.sessions, events), events, args.sessions, args.seed, now)


if __name__ == "__main__":
    main()
