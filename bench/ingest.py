"""Ingest benchmark: POST /events through real gunicorn against a raw-sqlite3 ceiling.

    python bench/ingest.py [--workers 4] [--worker-class gthread|sync] [--seconds 10]
                           [--batch-sizes 1,10,100] [--no-breakdown] [--otlp]

(a) ceiling: json.loads of a batch body, then one transaction of executemany
    INSERTs into the product's own schema (agentlens.db.connect + migrate: WAL,
    synchronous=NORMAL), with the sessions rows; no validation, no totals. One
    thread; measured for seconds/2 before and after (b), the mean is printed.
(b) `gunicorn -w N -k CLASS --threads 1 wsgi:app`, started from the repo root on a
    temporary database with rate limits off, fed by 4 client threads, each with
    its own http.client connection (kept alive unless the worker is sync):
    events/s, requests/s and p50/p99 latency per batch size; the ratio (b)/(a)
    at batch 100; then stored events (SELECT count(*)) against acknowledged ones.
(c) the request path in-process, each part timed alone (parse_batch, store_batch,
    a connection per request, the Flask test client).
(d) with --otlp: POST /v1/traces on the same server, the same 4 clients, protobuf,
    100 spans a request (one trace each: an agent span naming its conversation, then
    chat and execute_tool spans alternately, ~1 KB each with GenAI attributes):
    spans/s beside the /events events/s at batch 100, the two taking turns (4 rounds).
Events are ~1 KB of JSON (llm_call / tool_call), each with a new event_id, 100 per
session. Client and server share the machine: read results with its CPU count
and load average, both printed first.
"""
import argparse
import http.client
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import typing
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gunicorn import config as gunicorn_config  # noqa: E402

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest, ExportTraceServiceResponse)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue  # noqa: E402

from agentlens import create_app, db  # noqa: E402
from agentlens.ingest.formats import agentlens as wire  # noqa: E402
from agentlens.ingest.store import store_batch  # noqa: E402

CONNECTIONS = 4
ROUNDS = 4  # with --otlp: turns taken by /events at batch 100 and /v1/traces
EVENTS_PER_SESSION = 100
SECRET = "bench-secret"  # a fixed key: no instance/secret_key written into the work tree
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
    "decision_trace": {"reasoning": "Need fresh numbers before answering."},
}
TEMPLATES = [json.dumps(LLM_CALL), json.dumps(TOOL_CALL)]
RUN = os.urandom(4).hex()
_sequence = itertools.count()  # next() is atomic under the GIL


def make_body(size):
    """A JSON body of `size` new events (cheap: the client shares the CPUs with the server)."""
    events = []
    for _ in range(size):
        n = next(_sequence)
        sid = f"{RUN}-s{n // EVENTS_PER_SESSION}"
        events.append(TEMPLATES[n % 2].replace("@SID", sid).replace("@EID", f"{RUN}-{n}"))
    return ('{"events":[' + ",".join(events) + "]}").encode()


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
_otlp_templates = threading.local()  # a client thread's request, re-used with new ids


def make_otlp_body(size):
    """A protobuf ExportTraceServiceRequest: one new trace of `size` spans."""
    template = getattr(_otlp_templates, "request", None)
    if template is None or len(template.resource_spans[0].scope_spans[0].spans) != size:
        template = _otlp_templates.request = ExportTraceServiceRequest()
        scope_spans = template.resource_spans.add().scope_spans.add()
        template.resource_spans[0].resource.attributes.extend(
            attributes({"service.name": "bench"}))
        for i in range(size):
            name, attrs = OTLP_SPANS["agent" if i == 0 else ("chat", "tool")[i % 2]]
            scope_spans.spans.add(name=name, start_time_unix_nano=T0_NS + i * 1_000_000,
                                  end_time_unix_nano=T0_NS + i * 1_000_000 + 842_500_000,
                                  attributes=attributes(attrs))
    n = next(_sequence)
    trace_id = f"{RUN}{n:024x}"
    spans = template.resource_spans[0].scope_spans[0].spans
    spans[0].attributes[-1].value.string_value = f"{RUN}-c{n}"  # gen_ai.conversation.id
    for i, span in enumerate(spans):
        span.trace_id = bytes.fromhex(trace_id)
        span.span_id = (i + 1).to_bytes(8, "big")
        if i:
            span.parent_span_id = spans[0].span_id
    return template.SerializeToString()


def ceiling(path, seconds, size=100):
    """(a): events/s of raw stdlib sqlite3 into the product's schema, one thread."""
    conn = db.connect(path)
    db.migrate(conn)

    def dumps(value):
        return None if value is None else json.dumps(value)

    insert = ("INSERT INTO events (event_id, session_id, event_type, ts, model, tokens_in, tokens_out,"
              " duration_ms, input_data, output_data, tool_call, tool_name, decision_trace, source)"
              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'agentlens')")
    new_session = ("INSERT INTO sessions (session_id, started_at, last_event_at, source)"
                   " VALUES (?, ?, ?, 'agentlens') ON CONFLICT DO NOTHING")
    done, busy = 0, 0.0
    while busy < seconds:
        body = make_body(size)  # made outside the timed part, as for the server
        start = time.perf_counter()
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
        done += len(rows)
    conn.close()
    return done / busy


def start_gunicorn(workers, worker_class, database, log):
    """Start gunicorn from the repo root; returns (process, port) at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sibling = Path(sys.executable).with_name("gunicorn")
    gunicorn = str(sibling) if sibling.exists() else shutil.which("gunicorn")
    # gunicorn >= 25 opens a control socket at one shared path: servers running at once collide.
    flags = {flag for setting in gunicorn_config.KNOWN_SETTINGS for flag in setting.cli or ()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTLENS_")}
    env.update(AGENTLENS_DATABASE=database, AGENTLENS_RATE_LIMITS="off", AGENTLENS_SECRET_KEY=SECRET)
    proc = subprocess.Popen(
        [gunicorn, "-w", str(workers), "-k", worker_class, "--threads", "1", "-b", f"127.0.0.1:{port}"]
        + (["--no-control-socket"] if "--no-control-socket" in flags else []) + ["wsgi:app"],
        cwd=REPO, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, port


def wait_for_health(proc, port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError(f"gunicorn did not answer /health within {timeout} s")


class Target(typing.NamedTuple):
    """What a client posts: path, content type, a body of `size` items, and how many
    items the answer acknowledges."""
    path: str
    content_type: str
    make: typing.Callable
    acknowledged: typing.Callable


def otlp_acknowledged(data, size):
    return size - ExportTraceServiceResponse.FromString(data).partial_success.rejected_spans


EVENTS = Target("/events", "application/json", make_body,
                lambda data, size: json.loads(data)["processed"])
OTLP = Target("/v1/traces", "application/x-protobuf", make_otlp_body, otlp_acknowledged)


def hammer(port, size, seconds, target=EVENTS):
    """(b), (d): CONNECTIONS threads POST batches of `size` for `seconds`.

    Returns (acknowledged events, elapsed s, latencies, errors, connections per worker)."""
    latencies, acked, errors = [], [0], []
    lock = threading.Lock()
    start = time.perf_counter()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, count = [], 0
        try:
            while time.perf_counter() - start < seconds and not errors:
                body = target.make(size)
                sent = time.perf_counter()
                conn.request("POST", target.path, body, {"Content-Type": target.content_type})
                response = conn.getresponse()
                data = response.read()
                mine.append(time.perf_counter() - sent)
                if response.status != 200:
                    errors.append(f"{response.status}: {data[:300]!r}")
                    break
                count += target.acknowledged(data, size)
        except Exception as error:  # reported by the caller
            errors.append(repr(error))
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                acked[0] += count

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    time.sleep(min(1.0, seconds / 2))
    spread = connection_spread(port)
    for thread in threads:
        thread.join()
    return acked[0], time.perf_counter() - start, sorted(latencies), errors, spread


def connection_spread(port):
    """How many of our open connections each worker process holds (Linux `ss`)."""
    if not shutil.which("ss"):
        return ""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    pids = [part.split(",")[0] for part in out.split("pid=")[1:]]
    return str(sorted((pids.count(p) for p in set(pids)), reverse=True))


def timed(fn, items):
    """Mean seconds of fn(item) over items."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items)


def breakdown(tmp, ceiling_rate):
    """(c): each part of the request path for a batch of 100, timed alone, in one thread."""
    parsed = [json.loads(make_body(100)) for _ in range(60)]
    loads = timed(json.loads, [make_body(100) for _ in range(60)])
    schema = timed(lambda p: [wire.EVENT_SCHEMA.load(e) for e in p["events"]], parsed)
    parse = timed(lambda p: wire.parse_batch(p, max_batch=1000, max_field_bytes=1 << 20), parsed)
    normalised = [wire.parse_batch(p, max_batch=1000, max_field_bytes=1 << 20)[0] for p in parsed]
    path = os.path.join(tmp, "breakdown.sqlite3")
    conn = db.connect(path)
    db.migrate(conn)
    store = timed(lambda events: store_batch(conn, events), normalised[:30])
    conn.close()

    def per_request(events):  # a connection per request: why get_db() keeps its connection
        fresh = db.connect(path)
        store_batch(fresh, events)
        fresh.close()  # the last connection to close checkpoints the WAL, with fsyncs

    fresh = timed(per_request, normalised[30:])
    logging.getLogger("agentlens").setLevel(logging.ERROR)  # no "dev mode" warning here
    app = create_app({"DATABASE": os.path.join(tmp, "flask.sqlite3"), "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": SECRET})
    client = app.test_client()
    client.get("/health")
    request = timed(lambda body: client.post("/events", data=body, content_type="application/json"),
                    [make_body(100) for _ in range(60)])
    print("(c) in-process, one thread, no HTTP, per batch of 100 events:")
    for label, seconds in [("json.loads of the body", loads),
                           ("  marshmallow EVENT_SCHEMA.load", schema),
                           ("parse_batch (load + normalise)", parse),
                           ("store_batch on an open connection", store),
                           ("  same on a new connection, closed after", fresh),
                           ("the rest: Flask, routing, auth, jsonify", request - loads - parse - store),
                           ("whole POST /events via the test client", request)]:
        print(f"    {label:44s} {seconds * 1000:6.2f} ms  {seconds * 1e4:6.1f} us/event")
    print(f"    = {100 / request:,.0f} events/s per core; the ceiling: {1e6 / ceiling_rate:.1f} us/event")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "sync"))
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--batch-sizes", default="1,10,100")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--otlp", action="store_true",
                        help="also POST /v1/traces (protobuf, 100 spans a request)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, ~{len(make_body(1)) - 13} bytes of JSON per event")

    with tempfile.TemporaryDirectory(prefix="agentlens-bench-") as tmp:
        before = ceiling(os.path.join(tmp, "ceiling-1.sqlite3"), args.seconds / 2)
        database = os.path.join(tmp, "server.sqlite3")
        proc, acked_total, rates, lines = None, 0, {}, []
        with open(os.path.join(tmp, "gunicorn.log"), "w+") as log:
            try:
                proc, port = start_gunicorn(args.workers, args.worker_class, database, log)
                wait_for_health(proc, port)
                # A warm-up before each kind (every worker imports and connects): not reported.
                runs = [(EVENTS, 10, 1.0, None)] + [(EVENTS, size, args.seconds, size) for size in sizes
                                                     if not (args.otlp and size == 100)]
                if args.otlp:
                    # /events at batch 100 and /v1/traces take turns, so that neither gets the
                    # emptier database or the quieter moment of a shared machine.
                    runs += [(OTLP, 100, 1.0, None)] + [
                        run for _ in range(ROUNDS) for run in (
                            (EVENTS, 100, args.seconds / ROUNDS, 100),
                            (OTLP, 100, args.seconds / ROUNDS, "otlp"))]
                measured = {}  # key -> [acknowledged, elapsed, latencies, spreads, target, size]
                for target, size, seconds, key in runs:
                    acked, elapsed, latencies, errors, spread = hammer(port, size, seconds, target)
                    acked_total += acked
                    if errors:
                        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
                    if key is not None:
                        totals = measured.setdefault(key, [0, 0.0, [], [], target, size])
                        totals[0] += acked
                        totals[1] += elapsed
                        totals[2] += latencies
                        totals[3].append(spread)
                for key, (acked, elapsed, latencies, spreads, target, size) in measured.items():
                    rates[key] = acked / elapsed
                    latencies.sort()
                    p50, p99 = (latencies[int(q * (len(latencies) - 1))] * 1000 for q in (0.5, 0.99))
                    label = f"batch {size:4d}:" if target is EVENTS else "(d) POST /v1/traces, 100 spans:"
                    unit = "events/s" if target is EVENTS else "spans/s"
                    lines.append(f"    {label} {rates[key]:9,.0f} {unit} {len(latencies) / elapsed:6,.0f}"
                                 f" req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
                                 + ("  conns/worker " + " ".join(spreads) if any(spreads) else ""))
            except BaseException:
                log.seek(0)
                print("gunicorn log (tail):\n" + "".join(log.readlines()[-20:]), file=sys.stderr)
                raise
            finally:
                if proc is not None:
                    proc.send_signal(signal.SIGINT)  # this PID: the master's quick shutdown of its workers
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        after = ceiling(os.path.join(tmp, "ceiling-2.sqlite3"), args.seconds / 2)
        base = (before + after) / 2
        print(f"(a) ceiling, raw sqlite3, batch 100: {base:,.0f} events/s "
              f"(before {before:,.0f}, after {after:,.0f})")
        mode = "new connection per request" if args.worker_class == "sync" else "keep-alive"
        print(f"(b) gunicorn -w {args.workers} -k {args.worker_class} --threads 1, "
              f"{CONNECTIONS} client threads ({mode}), {args.seconds:g} s each:")
        print("\n".join(lines))
        with sqlite3.connect(database) as check:
            stored = check.execute("SELECT count(*) FROM events").fetchone()[0]
        check.close()
        print(f"    stored events {stored:,}, acknowledged {acked_total:,}"
              f"{' (events and spans)' if args.otlp else ''}: "
              f"{'OK' if stored == acked_total else 'MISMATCH'}")
        if "otlp" in rates and 100 in rates:
            ratio = rates["otlp"] / rates[100]
            print(f"(d)/(b) spans/s through /v1/traces against events/s through /events, batch 100: "
                  f"{ratio:.1%} (target 100%: {'met' if ratio >= 1 else 'MISSED'})")
        if 100 in rates:
            ratio = rates[100] / base
            print(f"ratio (b)/(a) at batch 100: {ratio:.1%} (target 50%: {'met' if ratio >= 0.5 else 'MISSED'})")
        if not args.no_breakdown:
            breakdown(tmp, base)
    sys.exit(0 if stored == acked_total else 1)


if __name__ == "__main__":
    main()
