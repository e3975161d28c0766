"""Ingest benchmark: POST /events through real gunicorn against a raw-sqlite3 ceiling,
and against any other server with the same endpoint, loaded by the same client in the same run.

    python bench/ingest.py [--batch-sizes 1,10,100,500] [--seconds 10] [--rounds 1]
                           [--gunicorn-args "-w 4 -k gthread"]
                           [--target http://127.0.0.1:PORT [--target-pid PID] [--target-name NAME]]
                           [--no-breakdown] [--otlp] [--floor]

(a) ceiling, per batch size: json.loads of a batch body, then one transaction of
    executemany INSERTs into the product's own schema (agentlens.db.connect +
    migrate: WAL, synchronous=NORMAL), with the sessions rows; no validation, no
    totals. One thread, for seconds/2 just before and just after the servers at
    that batch size; events/s (the mean) and its CPU time per event.
(b) AgentLens under gunicorn (server.py: ./gunicorn.conf.py if the repository has
    one, the options of --gunicorn-args on top) on a temporary database with rate
    limits off, and the --target server if given: for each batch size, each server
    in turn gets 4 client threads, each with its own keep-alive http.client
    connection, for --seconds. A request that fails (connection error, 429, 5xx)
    is sent again as it was, up to 5 times. Per server and batch size: events/s,
    p50/p99 latency (first send to acknowledgement), the server's CPU per
    acknowledged event (utime+stime from /proc of the process that serves and all
    its descendants, before and after), the client's own CPU per event, and the
    ratio to the ceiling at that batch size.
    With --rounds N, the batch sizes are gone through N times and the figures
    printed at the end add up the rounds (events/s = all events / all seconds).
    Then the verify pass, over HTTP for every session sent (GET /sessions/<id>):
    every acknowledged event stored once (0 lost, 0 doubled, nothing else) and the
    session's total_tokens_in/out equal to what was sent.
(c) the request path in-process, the CPU time of each part (jsonstrict.loads,
    parse_batch, store_batch, the whole request through Flask's test client), and
    the pages one store_batch transaction writes to the WAL at batch 1, 10 and 100.
(d) with --otlp: POST /v1/traces to AgentLens, the same 4 clients, protobuf, 100
    spans a request, in each round after the servers at batch 100 (before the
    ceiling's second half): spans/s beside AgentLens's /events events/s at batch 100.
With --floor, bench/floor_app.py (Flask under the same gunicorn worker, reading the
body and answering, nothing parsed or stored) is loaded in (b) like the servers:
what any server on this stack spends on a request before its own work.

Events are ~1 KB of JSON (llm_call / tool_call, alternately), each with a new
event_id, 100 per session, one set of sessions per server. Client and servers
share the machine: read results with the load average printed on each line, and
compare ratios measured in one run.
"""
import argparse
import itertools
import json
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # agentlens from this work tree

from server import (DEFAULT_GUNICORN_ARGS, SECRET, attach, load_average, serving_pids,  # noqa: E402
                    start_floor, start_gunicorn, stop)

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest, ExportTraceServiceResponse)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue  # noqa: E402

from agentlens import create_app, db, jsonstrict  # noqa: E402
from agentlens.ingest.formats import agentlens as wire  # noqa: E402
from agentlens.ingest.store import store_batch  # noqa: E402

CONNECTIONS = 4
EVENTS_PER_SESSION = 100
RETRIES = 5
RETRY_STATUSES = {429, 500, 502, 503, 504}
PROMPT = "Summarise the quarterly report and list the three largest cost drivers. " * 3
LLM_CALL = {
    "event_type": "llm_call", "session_id": "@SID", "event_id": "@EID",
    "timestamp": "2026-02-14T10:30:00.123Z", "model": "gpt-4o",
    "tokens_in": 512, "tokens_out": 128, "duration_ms": 842.5,
    "input_data": {"messages": [{"role": "system", "content": "You are a careful analyst."},
                                {"role": "user", "content": PROMPT}], "temperature": 0.2},
    "output_data": {"response": "The largest cost drivers are compute, storage and egress; "
                                "compute grew 18% quarter on quarter. " * 3, "finish_reason": "stop"},
    "decision_trace": {"reasoning": "The user asked for a summary; answer directly."},
}
TOOL_CALL = {
    "event_type": "tool_call", "session_id": "@SID", "event_id": "@EID",
    "timestamp": "2026-02-14T10:30:01.456Z", "duration_ms": 231.0,
    "tool_call": {"name": "web_search", "input": {"query": "quarterly cloud cost drivers", "top_k": 5},
                  "output": {"results": [{"title": f"Result {i}", "url": f"https://example.com/r/{i}",
                                          "snippet": "Cloud spend rose again, led by compute."}
                                         for i in range(5)]}},
    "decision_trace": {"reasoning": "The user asked for numbers; search first."},
}
TEMPLATES = [json.dumps(LLM_CALL), json.dumps(TOOL_CALL)]  # event n uses TEMPLATES[n % 2]
TOKENS = [(LLM_CALL["tokens_in"], LLM_CALL["tokens_out"]), (0, 0)]
RUN = os.urandom(4).hex()


class Load:
    """The events sent to one server: event n is in session n // 100 and has id <prefix>-n."""

    path, content_type = "/events", "application/json"

    def __init__(self, prefix):
        self.prefix = prefix
        self.sequence = itertools.count()  # next() is atomic under the GIL
        self.acked = []  # event numbers, appended under the caller's lock

    def session_id(self, n):
        return f"{self.prefix}-s{n // EVENTS_PER_SESSION}"

    def body(self, size):
        """``(JSON body, event numbers)`` of `size` new events (cheap: the client shares the CPUs)."""
        numbers = [next(self.sequence) for _ in range(size)]
        events = [TEMPLATES[n % 2].replace("@SID", self.session_id(n)).replace("@EID", f"{self.prefix}-{n}")
                  for n in numbers]
        return ('{"events":[' + ",".join(events) + "]}").encode(), numbers

    @staticmethod
    def acknowledged(status, data, size):
        """How many of the `size` items sent the answer says were taken (None: an error)."""
        return json.loads(data).get("processed") if status == 200 else None

    def expected(self):
        """``{session_id: (event ids, tokens_in, tokens_out)}`` of everything acknowledged."""
        sessions = {}
        for n in self.acked:
            ids, tokens_in, tokens_out = sessions.get(self.session_id(n), ([], 0, 0))
            ids.append(f"{self.prefix}-{n}")
            sessions[self.session_id(n)] = (ids, tokens_in + TOKENS[n % 2][0], tokens_out + TOKENS[n % 2][1])
        return sessions


@dataclass
class Measurement:
    size: int
    acked: int = 0
    elapsed: float = 0.0
    latencies: list = field(default_factory=list)
    retries: int = 0
    server_cpu: float | None = None
    client_cpu: float = 0.0
    spread: str = ""
    load: str = ""

    @property
    def rate(self):
        return self.acked / self.elapsed

    def absorb(self, other):
        """Add another measurement of the same server and batch size (another round)."""
        self.acked += other.acked
        self.elapsed += other.elapsed
        self.latencies = sorted(self.latencies + other.latencies)
        self.retries += other.retries
        self.server_cpu = None if other.server_cpu is None else (self.server_cpu or 0) + other.server_cpu
        self.client_cpu += other.client_cpu
        self.spread, self.load = other.spread, other.load

    def quantile(self, q):
        return self.latencies[int(q * (len(self.latencies) - 1))] * 1000


@dataclass
class Ceiling:
    rates: list = field(default_factory=list)  # events/s, one per measurement
    cpu: list = field(default_factory=list)  # CPU s per event

    @property
    def rate(self):
        return statistics.mean(self.rates)


def ceiling(path, seconds, size, into):
    """(a): events/s of raw stdlib sqlite3 into the product's schema, one thread;
    appended to the Ceiling ``into`` with the CPU time it took per event."""
    conn = db.connect(path)
    db.migrate(conn)

    def dumps(value):
        return None if value is None else json.dumps(value)

    insert = ("INSERT INTO events (event_id, session_id, event_type, ts, model, tokens_in, tokens_out,"
              " duration_ms, input_data, output_data, tool_call, tool_name, decision_trace, source)"
              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'agentlens')")
    new_session = ("INSERT INTO sessions (session_id, started_at, last_event_at, source)"
                   " VALUES (?, ?, ?, 'agentlens') ON CONFLICT DO NOTHING")
    load = Load(f"{RUN}-ceiling")
    done, busy, cpu = 0, 0.0, 0.0
    while busy < seconds:
        body, _ = load.body(size)  # made outside the timed part, as for the servers
        start, start_cpu = time.perf_counter(), time.thread_time()
        rows, sessions = [], {}
        for e in json.loads(body)["events"]:
            ts = int(datetime.fromisoformat(e["timestamp"]).timestamp() * 1000)
            tool = e.get("tool_call")
            rows.append((e["event_id"], e["session_id"], e["event_type"], ts, e.get("model"),
                         e.get("tokens_in"), e.get("tokens_out"), e.get("duration_ms"),
                         dumps(e.get("input_data")), dumps(e.get("output_data")),
                         dumps(tool), tool and tool["name"], dumps(e.get("decision_trace"))))
            sessions.setdefault(e["session_id"], (e["session_id"], ts, ts))
        with db.transaction(conn):
            conn.executemany(new_session, sessions.values())
            conn.executemany(insert, rows)
        busy += time.perf_counter() - start
        cpu += time.thread_time() - start_cpu
        done += len(rows)
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    into.rates.append(done / busy)
    into.cpu.append(cpu / done)


def attributes(mapping):
    result = []
    for key, value in mapping.items():
        kv = KeyValue(key=key)
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value
        result.append(kv)
    return result


T0_NS = 1_771_065_000_123_000_000  # 2026-02-14T10:30:00.123Z, as the /events bodies
OTLP_SPANS = {
    "agent": ("invoke_agent analyst", {"gen_ai.operation.name": "invoke_agent",
                                       "gen_ai.agent.name": "analyst",
                                       "gen_ai.conversation.id": "@CONVERSATION"}),
    "chat": ("chat gpt-4o", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 512,
        "gen_ai.usage.output_tokens": 128,
        "gen_ai.input.messages": json.dumps(LLM_CALL["input_data"]["messages"]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": LLM_CALL["output_data"]["response"]}]}])}),
    "tool": ("execute_tool web_search", {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "web_search",
        "gen_ai.tool.call.arguments": json.dumps(TOOL_CALL["tool_call"]["input"]),
        "gen_ai.tool.call.result": json.dumps(TOOL_CALL["tool_call"]["output"])}),
}


class OtlpLoad(Load):
    """Spans for POST /v1/traces (--otlp): each request one new trace of `size` spans in
    protobuf, an agent span naming its conversation, then chat and execute_tool spans
    alternately, ~1 KB each with GenAI attributes. Not verified (the JSON load is)."""

    path, content_type = "/v1/traces", "application/x-protobuf"

    def __init__(self, prefix):
        super().__init__(prefix)
        self.templates = threading.local()  # a client thread's request, re-used with new ids

    def body(self, size):
        template = getattr(self.templates, "request", None)
        if template is None or len(template.resource_spans[0].scope_spans[0].spans) != size:
            template = self.templates.request = ExportTraceServiceRequest()
            scope_spans = template.resource_spans.add().scope_spans.add()
            template.resource_spans[0].resource.attributes.extend(
                attributes({"service.name": "bench"}))
            for i in range(size):
                name, attrs = OTLP_SPANS["agent" if i == 0 else ("chat", "tool")[i % 2]]
                scope_spans.spans.add(name=name, start_time_unix_nano=T0_NS + i * 1_000_000,
                                      end_time_unix_nano=T0_NS + i * 1_000_000 + 842_500_000,
                                      attributes=attributes(attrs))
        n = next(self.sequence)
        spans = template.resource_spans[0].scope_spans[0].spans
        spans[0].attributes[-1].value.string_value = f"{self.prefix}-c{n}"  # the conversation
        for i, span in enumerate(spans):
            span.trace_id = bytes.fromhex(f"{RUN}{n:024x}")
            span.span_id = (i + 1).to_bytes(8, "big")
            if i:
                span.parent_span_id = spans[0].span_id
        return template.SerializeToString(), []

    @staticmethod
    def acknowledged(status, data, size):
        if status != 200:
            return None
        return size - ExportTraceServiceResponse.FromString(data).partial_success.rejected_spans


def post(conn, body, size, counts, load):
    """Send one batch until it is acknowledged (at most RETRIES more times); RuntimeError if never."""
    problem = None
    for attempt in range(RETRIES + 1):
        if attempt:
            counts["retries"] += 1
            time.sleep(0.05 * attempt)
        try:
            conn.request("POST", load.path, body, {"Content-Type": load.content_type})
            response = conn.getresponse()
            data = response.read()
        except OSError as error:  # includes http.client's errors; the next request reconnects
            conn.close()
            problem = repr(error)
            continue
        if response.status in RETRY_STATUSES:
            problem = f"{response.status}: {data[:300]!r}"
            continue
        processed = load.acknowledged(response.status, data, size)
        if processed != size:
            raise RuntimeError(f"{response.status}, processed {processed} of {size}: {data[:300]!r}")
        return
    raise RuntimeError(f"not acknowledged after {RETRIES} retries: {problem}")


def hammer(server, load, size, seconds):
    """(b): CONNECTIONS client threads POST batches of `size` to `server` for `seconds`."""
    result, lock, errors = Measurement(size), threading.Lock(), []
    counts = {"retries": 0}

    def client():
        conn = server.connect()
        latencies, numbers = [], []
        try:
            while time.perf_counter() - start < seconds and not errors:
                body, batch = load.body(size)
                sent = time.perf_counter()
                post(conn, body, size, counts, load)
                latencies.append(time.perf_counter() - sent)
                numbers += batch
        except Exception as error:  # reported by the caller
            errors.append(repr(error))
        finally:
            conn.close()
            with lock:
                result.latencies += latencies
                load.acked += numbers

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(min(1.0, seconds / 2))
    result.spread = connection_spread(server)
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - start
    cpu_after, result.client_cpu = server.cpu_seconds(), time.process_time() - client_before
    if cpu_before is not None:
        result.server_cpu = cpu_after - cpu_before
    if errors:
        raise RuntimeError(f"{server.name}, batch {size}: {len(errors)} clients failed, first: {errors[0]}")
    result.acked, result.retries = len(result.latencies) * size, counts["retries"]
    result.latencies.sort()
    result.load = load_average()
    return result


def connection_spread(server):
    """How many of the client's connections each serving process holds (Linux ``ss``)."""
    if server.pid is None:
        return ""
    pids = set(serving_pids(server))
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{server.port} )"],
                         capture_output=True, text=True).stdout
    holders = [int(part.split(",")[0]) for part in out.split("pid=")[1:]]
    counts = sorted((holders.count(pid) for pid in pids if pid in holders), reverse=True)
    return f"conns/process {counts}"


def verify(server, load):
    """Every acknowledged event stored once and each session's totals as sent, read over HTTP."""
    expected = load.expected()
    problems, lost, doubled, extra, totals_off, failures = [], 0, 0, 0, 0, []
    lock, queue = threading.Lock(), list(expected)

    def reader():
        nonlocal lost, doubled, extra, totals_off
        conn = server.connect()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    session_id = queue.pop()
                # event_limit: the reference pages a session's events (200 by default)
                conn.request("GET", f"/sessions/{session_id}?event_limit=1000")
                response = conn.getresponse()
                data = response.read()
                ids, tokens_in, tokens_out = expected[session_id]
                if response.status != 200:
                    with lock:
                        lost += len(ids)
                        problems.append(f"{session_id}: {response.status}")
                    continue
                session = json.loads(data)
                stored = [event["event_id"] for event in session["events"]]
                with lock:
                    lost += len(set(ids) - set(stored))
                    doubled += len(stored) - len(set(stored))
                    extra += len(set(stored) - set(ids))
                    if (session["total_tokens_in"], session["total_tokens_out"]) != (tokens_in, tokens_out):
                        totals_off += 1
                        problems.append(f"{session_id}: tokens {session['total_tokens_in']}/"
                                        f"{session['total_tokens_out']}, sent {tokens_in}/{tokens_out}")
        except Exception as error:  # the sessions this reader had left are not verified
            failures.append(repr(error))
        finally:
            conn.close()

    threads = [threading.Thread(target=reader) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = not (lost or doubled or extra or totals_off or failures)
    print(f"verify {server.name}: {len(load.acked):,} events acknowledged in {len(expected):,} sessions: "
          f"{lost} lost, {doubled} doubled, {extra} not sent, {totals_off} sessions with other totals"
          + (f", {len(failures)} readers failed ({failures[0]})" if failures else "")
          + f": {'OK' if ok else 'FAILED'}" + "".join(f"\n    {p}" for p in problems[:5]))
    return ok


def breakdown(tmp, ceiling_size, ceiling_cpu, rounds=60, warm_up=10):
    """(c): each part of the request path for a batch of 100, in one thread: the CPU time
    of this thread (not wall time: other processes share the cores), each part in turn
    in every round, the medians reported."""
    load = Load(f"{RUN}-breakdown")
    logging.getLogger("agentlens").setLevel(logging.ERROR)  # no "dev mode" warning here
    app = create_app({"DATABASE": os.path.join(tmp, "breakdown.sqlite3"), "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": SECRET})
    limits = {"max_batch": app.config["MAX_BATCH"], "max_field_bytes": app.config["MAX_FIELD_BYTES"]}
    client = app.test_client()
    client.get("/health")
    times = {part: [] for part in ("loads", "parse", "store", "request")}
    with app.app_context():
        conn = db.get_db()  # the thread's connection, which the test client's requests use too
        for round in range(warm_up + rounds):
            body, request_body = load.body(100)[0], load.body(100)[0]
            start = time.thread_time()
            parsed = jsonstrict.loads(body)
            parsed_at = time.thread_time()
            events, _ = wire.parse_batch(parsed, **limits)
            validated_at = time.thread_time()
            store_batch(conn, events)
            stored_at = time.thread_time()
            client.post("/events", data=request_body, content_type="application/json")
            if round >= warm_up:
                for part, seconds in zip(times, (parsed_at - start, validated_at - parsed_at,
                                                 stored_at - validated_at, time.thread_time() - stored_at)):
                    times[part].append(seconds)
        pages = {size: wal_pages(conn, load, size, limits) for size in (1, 10, 100)}
    loads, parse, store, request = (statistics.median(times[part]) for part in times)
    print(f"(c) in-process, one thread, no HTTP, CPU time per batch of 100 events (median of {rounds}):")
    for label, seconds in [("jsonstrict.loads of the body", loads),
                           ("parse_batch (validate + normalise)", parse),
                           ("store_batch on an open connection", store),
                           ("the rest: Flask, routing, auth, metrics, response", request - loads - parse - store),
                           ("whole POST /events via the test client", request)]:
        print(f"    {label:52s} {seconds * 1000:6.2f} ms  {seconds * 1e4:6.1f} us/event")
    print(f"    = {100 / request:,.0f} events/s per core; the ceiling's CPU at batch {ceiling_size}: "
          f"{ceiling_cpu * 1e6:.1f} us/event")
    print("    WAL pages a store_batch transaction writes (median of 20; each is a page of the "
          "database: COMMIT writes them all):")
    print("    " + ", ".join(f"batch {size}: {count:g}" for size, count in pages.items()))


def wal_pages(conn, load, size, limits, transactions=20):
    """Median pages written to the WAL by one store_batch of `size` new events: each is
    measured alone, the WAL checkpointed whole before it (so that it starts the log
    again) and its frames read after it."""
    counts = []
    for _ in range(transactions):
        events, _ = wire.parse_batch(jsonstrict.loads(load.body(size)[0]), **limits)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        store_batch(conn, events)
        counts.append(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    return statistics.median(counts)


def report(name, m, ceiling=None):
    cpu = "n/a" if m.server_cpu is None else f"{m.server_cpu / m.acked * 1e6:5.1f}"
    cores = "" if m.server_cpu is None else f" ({m.server_cpu / m.elapsed:.2f} cores)"
    print(f"  batch {m.size:4d}  {name:10s} {m.rate:8,.0f} ev/s {len(m.latencies) / m.elapsed:6,.0f} req/s"
          f"  p50 {m.quantile(0.5):6.2f} ms  p99 {m.quantile(0.99):6.1f} ms"
          f"  server CPU {cpu} us/ev{cores}  client CPU {m.client_cpu / m.acked * 1e6:5.1f} us/ev"
          + ("" if ceiling is None else f"  {m.rate / ceiling.rate:5.1%} of ceiling")
          + f"  retries {m.retries}  {m.load}" + ("" if ceiling else f"  {m.spread}"), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--batch-sizes", default="1,10,100,500")
    parser.add_argument("--rounds", type=int, default=1,
                        help="go through the batch sizes this many times; figures add up the rounds")
    parser.add_argument("--gunicorn-args", default=DEFAULT_GUNICORN_ARGS,
                        help=f"gunicorn options (default: {DEFAULT_GUNICORN_ARGS!r})")
    parser.add_argument("--target", help="URL of another server to load the same way (POST /events)")
    parser.add_argument("--target-pid", type=int, help="its PID for CPU (default: who listens on its port)")
    parser.add_argument("--target-name", default="reference")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--otlp", action="store_true",
                        help="also POST /v1/traces to AgentLens at batch 100, beside /events")
    parser.add_argument("--floor", action="store_true",
                        help="also load bench/floor_app.py: Flask and gunicorn doing no work")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    if args.otlp and 100 not in sizes:
        parser.error("--otlp is measured beside /events at batch 100: --batch-sizes must have 100")
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
          f"{load_average()}, ~{len(Load('x').body(1)[0]) - 13} bytes of JSON per event, "
          f"{CONNECTIONS} keep-alive clients, {args.seconds:g} s per measurement, {args.rounds} round(s)",
          flush=True)

    ok, servers, ceilings = True, [], {size: Ceiling() for size in sizes}
    with tempfile.TemporaryDirectory(prefix="agentlens-bench-") as tmp, \
            open(os.path.join(tmp, "gunicorn.log"), "w+") as log:
        try:
            servers.append(start_gunicorn(os.path.join(tmp, "server.sqlite3"), args.gunicorn_args, log))
            if args.target:
                servers.append(attach(args.target_name, args.target, args.target_pid))
            if args.floor:
                servers.append(start_floor(args.gunicorn_args, log, tmp))
            loads = {s.name: Load(f"{RUN}-{s.name}") for s in servers}
            results = {(s.name, size): Measurement(size) for s in servers for size in sizes}
            spans, otlp_load = Measurement(100), OtlpLoad(f"{RUN}-otlp") if args.otlp else None
            for server in servers:  # every worker imports and connects; not reported, but verified
                hammer(server, loads[server.name], 10, 1.0)
            print("(b) POST /events: at each batch size, the ceiling, each server in turn, the ceiling again",
                  flush=True)
            for _, size in itertools.product(range(args.rounds), sizes):
                ceiling(os.path.join(tmp, "ceiling.sqlite3"), args.seconds / 2, size, ceilings[size])
                for server in servers:
                    measurement = hammer(server, loads[server.name], size, args.seconds)
                    report(server.name, measurement)
                    results[server.name, size].absorb(measurement)
                if args.otlp and size == 100:
                    measurement = hammer(servers[0], otlp_load, size, args.seconds)
                    report("otlp", measurement)
                    spans.absorb(measurement)
                ceiling(os.path.join(tmp, "ceiling.sqlite3"), args.seconds / 2, size, ceilings[size])
            if args.otlp:
                print_otlp(spans, results[servers[0].name, 100])
            for server in servers:
                if server.name != "floor":  # it stores nothing
                    ok = verify(server, loads[server.name]) and ok
        except BaseException:
            log.seek(0)
            print("gunicorn log (tail):\n" + "".join(log.readlines()[-20:]), file=sys.stderr)
            raise
        finally:
            for server in servers:
                stop(server)
        print("(a) ceiling, raw sqlite3, one thread, one transaction per batch (mean, lowest, highest):")
        for size in sizes:
            c = ceilings[size]
            print(f"  batch {size:4d}: {c.rate:9,.0f} events/s ({min(c.rates):,.0f} / {max(c.rates):,.0f}), "
                  f"CPU {statistics.mean(c.cpu) * 1e6:.1f} us/event")
        print("(b) all rounds together, beside the ceiling at the same batch size:")
        for size in sizes:
            for server in servers:
                report(server.name, results[server.name, size], ceilings[size])
        summary(servers, results, ceilings, sizes)
        if not args.no_breakdown:
            size = 100 if 100 in sizes else sizes[-1]
            breakdown(tmp, size, statistics.mean(ceilings[size].cpu))
    sys.exit(0 if ok else 1)


def print_otlp(spans, events):
    """(d): spans/s through /v1/traces (protobuf, 100 spans a request) beside AgentLens's
    /events events/s at batch 100, measured in the same rounds."""
    line = f"(d) POST /v1/traces: {spans.rate:,.0f} spans/s"
    if events.acked:
        line += f", {spans.rate / events.rate:.0%} of /events at batch 100 ({events.rate:,.0f} events/s)"
    print(line)


def summary(servers, results, ceilings, sizes):
    """The issue's targets for AgentLens, and how it stands beside the other server."""
    ours = {size: results["agentlens", size] for size in sizes}
    if 100 in ours:
        ratio, m = ours[100].rate / ceilings[100].rate, ours[100]
        print(f"agentlens at batch 100: {ratio:.1%} of the ceiling (target >= 80%: "
              f"{'met' if ratio >= 0.8 else 'MISSED'}), server CPU {m.server_cpu / m.acked * 1e6:.1f} "
              f"us/event (goal <= 30: {'met' if m.server_cpu / m.acked * 1e6 <= 30 else 'MISSED'})")
    if 1 in ours:
        p50 = ours[1].quantile(0.5)
        print(f"agentlens at batch 1: p50 {p50:.2f} ms (target < 1.5 ms: {'met' if p50 < 1.5 else 'MISSED'})")
    for other in servers[1:]:
        ratios = ", ".join(f"batch {size} {ours[size].rate / results[other.name, size].rate:.2f}"
                           for size in sizes)
        target = "the stack doing no work" if other.name == "floor" else "target >= 1 at every size"
        print(f"agentlens events/s / {other.name} events/s: {ratios} ({target})")


if __name__ == "__main__":
    main()
