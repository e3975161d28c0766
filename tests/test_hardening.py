"""Inputs found by review to break things once: each refused cleanly now, or read one way."""
import multiprocessing
import threading
from contextlib import closing

from agentlens import db


def post(client, events):
    return client.post("/events", json={"events": events})


def test_a_lone_surrogate_refuses_its_event_only(client):
    body = '{"events": [{"session_id": "good", "tokens_in": 1}, {"session_id": "bad", "output_data": "\\udfff"}]}'
    response = client.post("/events", data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "processed": 1, "rejected": [
        {"index": 1, "error": "output_data: not valid Unicode text (lone surrogate)"}]}
    assert client.get("/sessions/good").status_code == 200


def test_a_lone_surrogate_in_an_sdk_body_is_a_400(client):
    response = client.post("/v2/create_session", data='{"session": {"id": "s", "tags": ["\\udfff"]}}',
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": "metadata: not valid Unicode text (lone surrogate)"}


def test_durations_beyond_the_cap_are_refused(client):
    response = post(client, [{"session_id": "d", "duration_ms": 1e9},
                             {"session_id": "d", "duration_ms": 1e9 + 1}])
    assert response.get_json() == {"status": "ok", "processed": 1, "rejected": [
        {"index": 1, "error": "duration_ms: more than 1000000000 ms"}]}


def test_session_start_requires_a_session_id(client):
    response = post(client, [{"event_type": "session_start", "agent_name": "x"}])
    assert response.status_code == 400
    assert response.get_json()["rejected"] == [
        {"index": 0, "error": "session_id: Required for session_start."}]


def test_both_tool_call_shapes_are_read_the_same_everywhere(client):
    assert post(client, [{"session_id": "t", "event_id": "1", "event_type": "tool_call", "duration_ms": 5,
                          "tool_call": {"name": None, "tool_name": "search", "tool_input": "q",
                                        "tool_output": "r"}}]).status_code == 200
    compared = client.post("/sessions/compare", json={"session_a": "t", "session_b": "t"}).get_json()
    assert compared["session_a"]["tools"] == {"search": {"calls": 1, "total_duration": 5.0}}
    csv_text = client.get("/sessions/t/export?format=csv").get_data(as_text=True)
    assert csv_text.splitlines()[1].split(",")[9:12] == ["search", "q", "r"]  # the API's columns 10-12
    explanation = client.get("/sessions/t/explain").get_json()["explanation"]
    assert "**Tool call** search (5 ms)" in explanation


def test_years_before_1000_keep_four_digits(client):
    assert post(client, [{"session_id": "y", "timestamp": "0999-01-01T00:00:00Z"}]).status_code == 200
    assert client.get("/sessions/y").get_json()["started_at"] == "0999-01-01T00:00:00.000Z"


def test_cors_preflights_do_not_use_up_the_rate_limit(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SESSIONS="2/minute").test_client()
    for _ in range(3):
        preflight = client.options("/sessions", headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 200
    assert [client.get("/sessions").status_code for _ in range(3)] == [200, 200, 429]


def migrate_in_threads(path, barrier):
    failures = []

    def run():
        with closing(db.connect(path)) as conn:
            barrier.wait()  # all threads of all processes open the new file at once
            try:
                db.migrate(conn)
            except Exception as error:  # reported to the parent through the exit code
                failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    raise SystemExit(1 if failures else 0)


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = str(tmp_path / f"fresh-{attempt}.sqlite3")
        barrier = context.Barrier(16)
        processes = [context.Process(target=migrate_in_threads, args=(path, barrier))
                     for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        assert [process.exitcode for process in processes] == [0, 0, 0, 0], attempt
        with closing(db.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == max(
                step for step, _ in db.migration_steps())


def test_update_events_cannot_set_a_duration_beyond_the_cap(client):
    token = client.post("/v2/create_session", json={"session": {"id": "o"}}).get_json()["jwt"]
    bearer = {"Authorization": f"Bearer {token}"}
    client.post("/v2/create_events", headers=bearer, json={"events": [
        {"id": "e", "type": "llm", "init_timestamp": "2026-01-01T00:00:00Z"}]})
    response = client.post("/v2/update_events", headers=bearer, json={"events": [
        {"id": "e", "end_timestamp": "2026-02-01T00:00:00Z"}]})  # 31 days later
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "end_timestamp: more than 1000000000 ms after the start of event 'e'"}
    assert client.get("/sessions/o").get_json()["events"][1]["duration_ms"] is None


def test_the_latest_agentops_end_wins_whatever_the_order(make_app):
    ends = [("2026-01-01T00:01:00Z", "Success"), ("2026-01-01T00:02:00Z", "Fail")]
    for order in (ends, ends[::-1]):
        client = make_app().test_client()
        token = client.post("/v2/create_session", json={"session": {"id": "o"}}).get_json()["jwt"]
        for end_timestamp, state in order:
            client.post("/v2/update_session", headers={"Authorization": f"Bearer {token}"},
                        json={"session": {"id": "o", "end_timestamp": end_timestamp, "end_state": state}})
        session = client.get("/sessions/o").get_json()
        assert (session["status"], session["ended_at"]) == ("error", "2026-01-01T00:02:00.000Z")


def test_equal_times_settle_the_same_whatever_the_order(make_app):
    starts = [{"event_type": "session_start", "session_id": "t", "event_id": name,
               "agent_name": name, "metadata": {"k": name}, "timestamp": "2026-01-01T00:00:00Z"}
              for name in ("A", "B")]
    seen = []
    for order in (starts, starts[::-1]):
        client = make_app().test_client()
        for start in order:
            client.post("/events", json={"events": [start]})
        session = client.get("/sessions/t").get_json()
        seen.append((session["agent_name"], session["metadata"]))
    assert seen[0] == seen[1] == ("A", {"k": "A"})


def test_sdk_metadata_keeps_null_values(client):
    token = client.post("/v2/create_session", json={"session": {
        "id": "n", "host_env": {"a": {"b": None}}}}).get_json()["jwt"]
    client.post("/v2/update_session", headers={"Authorization": f"Bearer {token}"},
                json={"session": {"id": "n", "tags": ["x"], "host_env": {"c": None}}})
    assert client.get("/sessions/n").get_json()["metadata"] == {"host_env": {"c": None}, "tags": ["x"]}


def test_sessions_from_the_future_are_not_in_the_last_90_days(client):
    post(client, [{"event_type": "session_start", "session_id": "f", "agent_name": "a",
                   "timestamp": "2099-01-01T00:00:00Z"}])
    assert client.get("/analytics").get_json()["sessions_over_time"] == []
