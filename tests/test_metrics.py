"""GET /metrics: the figures move by exactly what a known load did, in one process
(the test client) and through gunicorn with two workers (multiprocess mode)."""
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

import server
from helpers import assert_error

CONFIG = Path(__file__).parent / "metrics_gunicorn_conf.py"
FORMATS = ("agentlens", "agnost", "agentops")
EVENTS_ROUTE = "/events"


def samples(text):
    """``{(name, sorted label items): value}`` of an exposition."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(figures, name, **labels):
    return figures.get((name, tuple(sorted(labels.items()))), 0)


def ingest_figures(figures):
    return {(kind, format): value(figures, f"agentlens_events_{kind}_total", format=format)
            for kind in ("stored", "duplicate", "rejected") for format in FORMATS}


def delta(before, after):
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def scrape(client, **headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def batch(session_id, *event_ids, invalid=0):
    events = [{"event_type": "llm_call", "session_id": session_id, "event_id": event_id,
               "tokens_in": 1} for event_id in event_ids]
    events += [{"event_type": "llm_call", "session_id": session_id, "tokens_in": -1}] * invalid
    return {"events": events}


def test_ingest_counts_by_format(client):
    before = ingest_figures(scrape(client))
    assert client.post("/events", json=batch("s1", "a", "b", invalid=1)).status_code == 200
    assert client.post("/events", json=batch("s1", "a", "c")).status_code == 200
    assert client.post("/events", json=batch("s1", invalid=2)).status_code == 400
    capture = {"session_id": "conv", "primitive_name": "search", "primitive_type": "tool"}
    assert client.post("/api/v1/capture-session", json={"session_id": "conv"}).status_code == 200
    assert client.post("/api/v1/capture-event", json={**capture, "event_id": "e1"}).status_code == 200
    assert client.post("/api/v1/capture-event", json={**capture, "event_id": "e1"}).status_code == 200
    assert client.post("/api/v1/capture-event", json={**capture, "latency": -1}).status_code == 400
    jwt = client.post("/v2/create_session", json={"session_id": "ops"}).get_json()["jwt"]
    bearer = {"Authorization": f"Bearer {jwt}"}
    response = client.post("/v2/create_events", headers=bearer, json={"events": [
        {"id": "x", "type": "llms", "model": "gpt-4o"}, {"id": "x", "type": "llms"},
        {"id": "y", "type": "tools", "prompt_tokens": "many"}]})
    assert response.get_json() == {"status": "ok", "processed": 2, "duplicates": 1,
                                   "rejected": [{"index": 2, "error": "prompt_tokens: Not a valid integer."}]}
    after = ingest_figures(scrape(client))
    assert delta(before, after) == {
        ("stored", "agentlens"): 3, ("duplicate", "agentlens"): 1, ("rejected", "agentlens"): 3,
        ("stored", "agnost"): 2, ("duplicate", "agnost"): 1, ("rejected", "agnost"): 1,
        ("stored", "agentops"): 2, ("duplicate", "agentops"): 1, ("rejected", "agentops"): 1,
    }


def test_requests_by_route_and_status_with_latency(client):
    route = "/sessions/<path:session_id>"
    before = scrape(client)
    for session_id in ("a", "b/c", "d"):
        assert_error(client.get(f"/sessions/{session_id}"), 404)
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.open("/health", method="BREW"), 405)
    assert client.get("/health").status_code == 200
    after = scrape(client)
    requests = "agentlens_http_requests_total"
    assert value(after, requests, route=route, method="GET", status="404") \
        - value(before, requests, route=route, method="GET", status="404") == 3
    assert value(after, requests, route="(unmatched)", method="GET", status="404") \
        - value(before, requests, route="(unmatched)", method="GET", status="404") == 1
    assert value(after, requests, route="/health", method="GET", status="200") \
        - value(before, requests, route="/health", method="GET", status="200") == 1
    assert value(after, requests, route="(unmatched)", method="other", status="405") \
        - value(before, requests, route="(unmatched)", method="other", status="405") == 1
    assert not [labels for name, labels in after if ("method", "BREW") in labels]
    count = "agentlens_http_request_duration_seconds_count"
    assert value(after, count, route=route, method="GET") \
        - value(before, count, route=route, method="GET") == 3
    infinite = value(after, "agentlens_http_request_duration_seconds_bucket", route=route,
                     method="GET", le="+Inf")
    assert infinite == value(after, count, route=route, method="GET")


def test_store_figures(make_app, store):
    app = make_app()
    client = app.test_client()
    assert client.post("/events", json=batch("s1", "a", "b")).status_code == 200
    assert client.post("/events", json=batch("s2", "a")).status_code == 200
    figures = scrape(client)
    assert value(figures, "agentlens_sessions_stored") == 2
    assert value(figures, "agentlens_events_in_store") == 3
    if store == "postgresql":
        with closing(psycopg.connect(app.config["DATABASE"])) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        # autovacuum and the statistics may move it by a few pages meanwhile
        assert abs(value(figures, "agentlens_database_size_bytes") - size) < 1024 * 1024
        assert value(figures, "agentlens_database_wal_size_bytes") == 0
        return
    assert value(figures, "agentlens_database_size_bytes") == os.path.getsize(app.config["DATABASE"])
    assert value(figures, "agentlens_database_wal_size_bytes") \
        == os.path.getsize(app.config["DATABASE"] + "-wal")
    assert value(figures, "agentlens_database_wal_size_bytes") > 0


def test_behind_the_api_key(make_app):
    client = make_app(API_KEYS=["k1"]).test_client()
    assert_error(client.get("/metrics"), 401)
    assert_error(client.get("/metrics", headers={"X-API-Key": "nope"}), 401)
    scrape(client, **{"X-API-Key": "k1"})


# Through gunicorn, two workers -------------------------------------------------

def worker_pids(master_pid):
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return sorted(map(int, children))


def per_process_stored(directory):
    """``{pid: events stored}`` as each process's own file counts them."""
    from prometheus_client.multiprocess import MultiProcessCollector

    stored = {}
    for path in Path(directory).glob("counter_*.db"):
        if path.stat().st_size < 8:  # a worker is creating it
            continue
        stored[int(path.stem.split("_")[1])] = sum(
            sample.value for family in MultiProcessCollector.merge([str(path)])
            for sample in family.samples if sample.name == "agentlens_events_stored_total")
    return stored


@pytest.fixture
def metrics_directory(tmp_path):
    return tmp_path / "prometheus"


@pytest.fixture
def gunicorn_server(tmp_path, metrics_directory):
    live = server.start_server(tmp_path / "server", config=CONFIG,
                               environment={"PROMETHEUS_MULTIPROC_DIR": str(metrics_directory)})
    yield live
    live.stop()


def live_figures(live):
    response = live.get("/metrics")
    assert response.status_code == 200, response.text
    return samples(response.text)


def send_batches(live, count, first=0):
    """``count`` batches of 2 new events (sessions ``load-<first>``...), 8 at a time
    on fresh connections; each batch answers ``processed: 2``."""
    def send(number):
        response = live.http.post(f"{live.url}/events", timeout=10, headers={"Connection": "close"},
                                  json=batch(f"load-{number}", f"{number}-a", f"{number}-b"))
        assert response.json() == {"status": "ok", "processed": 2}, response.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(first, first + count)))


def load_both_workers(live, directory):
    """Send rounds of 20 batches until both workers have stored some (which worker
    takes a connection is the kernel's choice); returns the number of batches sent."""
    sent = 0
    while len([n for n in per_process_stored(directory).values() if n]) < 2:
        assert sent < 2000, per_process_stored(directory)
        send_batches(live, 20, first=sent)
        sent += 20
    return sent


def test_every_worker_counts(gunicorn_server, metrics_directory):
    live = gunicorn_server
    sent = load_both_workers(live, metrics_directory)
    # Each worker counted only what it served...
    served = per_process_stored(metrics_directory)
    assert sum(served.values()) == 2 * sent and all(served[pid] for pid in worker_pids(live.pid))
    # ...yet every scrape, whichever worker answers it, adds them all up.
    for _ in range(6):
        figures = live_figures(live)
        assert value(figures, "agentlens_events_stored_total", format="agentlens") == 2 * sent
        assert value(figures, "agentlens_events_in_store") == 2 * sent
        assert value(figures, "agentlens_sessions_stored") == sent
        assert value(figures, "agentlens_http_requests_total", route=EVENTS_ROUTE,
                     method="POST", status="200") == sent


def test_a_workers_counts_outlive_it(gunicorn_server, metrics_directory):
    live = gunicorn_server
    sent = load_both_workers(live, metrics_directory)
    killed = worker_pids(live.pid)[0]
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while len(set(worker_pids(live.pid)) - {killed}) != 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.05)
    send_batches(live, 5, first=sent)
    for _ in range(4):
        figures = live_figures(live)
        assert value(figures, "agentlens_events_stored_total", format="agentlens") == 2 * sent + 10


def test_counts_start_from_zero_and_the_directory_goes(tmp_path, metrics_directory):
    first = server.start_server(tmp_path / "first", config=CONFIG,
                                environment={"PROMETHEUS_MULTIPROC_DIR": str(metrics_directory)})
    try:
        send_batches(first, 5)
        left_behind = tmp_path / "left-behind"
        shutil.copytree(metrics_directory, left_behind)  # as a crash would leave them
    finally:
        first.stop()
    assert not metrics_directory.exists()
    shutil.copytree(left_behind, metrics_directory)
    second = server.start_server(tmp_path / "second", config=CONFIG,
                                 environment={"PROMETHEUS_MULTIPROC_DIR": str(metrics_directory)})
    try:
        figures = live_figures(second)
        assert value(figures, "agentlens_events_stored_total", format="agentlens") == 0
        assert value(figures, "agentlens_http_requests_total", route=EVENTS_ROUTE,
                     method="POST", status="200") == 0
    finally:
        second.stop()
