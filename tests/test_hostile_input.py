"""The adversarial run's findings (issue 8), each sent exactly as it was found:
one client's hostile input is refused on its own and breaks nothing for others."""
import json
import socket
import sqlite3
from urllib.parse import quote

import psycopg
import pytest

from agentlens import db
from agentlens.ingest.formats import agentlens as wire
from agentlens.ingest.store import store_batch
from helpers import assert_error, freeze_server_clock, read_json, read_session
from server import server_fixture

DEPTHS = [976, 978, 981, 1100]


def nested(depth, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth):
    return "[" * depth + "1" + "]" * depth


def post_raw(client, path, text, headers=None):
    return client.post(path, data=text.encode("utf-8", "surrogatepass"),
                       content_type="application/json", headers=headers or {})


def strict(response):
    """The body parses as strict JSON: no NaN, no Infinity."""
    def refuse(constant):
        raise AssertionError(f"{constant} in a response")
    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def good_event(session_id="good", event_id="ok"):
    return {"event_type": "llm_call", "session_id": session_id, "event_id": event_id,
            "tokens_in": 3, "timestamp": "2026-02-14T10:00:00Z"}


@pytest.fixture
def agentops(client):
    """create_session's JWT for session "ops-1"."""
    response = client.post("/v2/create_session", json={"session": {"session_id": "ops-1"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['jwt']}"}


# --- 1 and 2: nesting -------------------------------------------------------

@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_tags_on_create_session_are_refused_and_break_no_listing(client, depth):
    text = '{"session": {"session_id": "deep", "tags": %s}}' % nested_text(depth)
    error = assert_error(post_raw(client, "/v2/create_session", text), 400)
    assert "nested" in error
    assert read_json(client, "/sessions") == {"sessions": [], "total": 0}


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_event_is_refused_alone_and_the_valid_one_beside_it_is_stored(client, depth):
    text = ('{"events": [%s, {"session_id": "deep", "event_id": "d", "input_data": %s}]}'
            % (json.dumps(good_event()), nested_text(depth)))
    response = post_raw(client, "/events", text)
    if depth > 1024:  # deeper than any parser reads: the body itself is refused
        assert_error(response, 400)
        return
    assert response.status_code == 200, response.get_data(as_text=True)
    body = strict(response)
    assert body["processed"] == 1
    assert body["rejected"] == [{"index": 1, "error": "input_data: nested more than 254 levels deep"}]
    assert [e["event_id"] for e in read_session(client, "good")["events"]] == ["ok"]
    assert_error(client.get("/sessions/deep"), 404)


def test_nesting_up_to_the_documented_limit_is_stored_and_read_back(client):
    value = nested(253)
    response = client.post("/events", json={"events": [
        {"session_id": "s", "event_id": "at-limit", "input_data": {"v": value}}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert read_session(client, "s")["events"][0]["input_data"] == {"v": value}
    for path in ("/sessions/s/export", "/sessions/s/export?format=csv", "/sessions/s/explain",
                 "/sessions"):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("route,body", [
    ("/api/v1/capture-event", {"session_id": "a1", "primitive_name": "t", "args": "@"}),
    ("/api/v1/capture-session", {"session_id": "a2", "user_data": "@"}),
])
@pytest.mark.parametrize("depth", DEPTHS)
def test_agnost_routes_refuse_deep_values_with_a_400(client, route, body, depth):
    text = json.dumps(body).replace('"@"', nested_text(depth))
    assert_error(post_raw(client, route, text), 400)
    assert read_json(client, "/sessions")["total"] == 0


@pytest.mark.parametrize("route,body", [
    ("/v2/create_events", {"events": [{"id": "e1", "type": "action", "params": "@"}]}),
    ("/v2/update_session", {"session": {"session_id": "ops-1", "tags": "@"}}),
])
@pytest.mark.parametrize("depth", DEPTHS)
def test_agentops_routes_refuse_deep_values_with_a_400(client, agentops, route, body, depth):
    text = json.dumps(body).replace('"@"', nested_text(depth))
    response = post_raw(client, route, text, agentops)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "nested" in strict(response)["error"]
    session = read_session(client, "ops-1")
    assert (session["metadata"], len(session["events"])) == ({}, 1)


# --- 3 and 4: numbers that are not JSON -----------------------------------

@pytest.mark.parametrize("literal", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_refuse_their_event_only(client, literal):
    text = ('{"events": [%s, {"session_id": "bad", "event_id": "b", "input_data": {"x": %s}}]}'
            % (json.dumps(good_event()), literal))
    response = post_raw(client, "/events", text)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert strict(response)["rejected"] == [
        {"index": 1, "error": f"input_data: {literal} is not a finite number"}]
    for path in ("/sessions", "/sessions/good", "/sessions/good/export", "/analytics"):
        strict(client.get(path))


def test_non_finite_session_metadata_is_refused(client):
    text = ('{"events": [{"event_type": "session_start", "session_id": "m", "agent_name": "a",'
            ' "metadata": {"x": 1e999}}]}')
    response = post_raw(client, "/events", text)
    assert_error_with_rejected(response, [{"index": 0, "error": "metadata: 1e999 is not a finite number"}])
    strict(client.get("/sessions"))


def assert_error_with_rejected(response, rejected):
    assert response.status_code == 400, response.get_data(as_text=True)
    body = strict(response)
    assert body["rejected"] == rejected


def test_agnost_args_nan_is_kept_as_the_text_the_sdk_sent(client):
    response = client.post("/api/v1/capture-event", json={
        "session_id": "n", "primitive_type": "tool", "primitive_name": "calc", "args": "NaN",
        "result": "1e999"})
    assert response.status_code == 200, response.get_data(as_text=True)
    event = strict(client.get("/sessions/n"))["events"][0]
    assert (event["tool_call"]["input"], event["tool_call"]["output"]) == ("NaN", "1e999")


def test_update_events_with_an_infinite_output_is_a_400_and_amending_still_works(client, agentops):
    created = client.post("/v2/create_events", headers=agentops, json={"events": [
        {"id": "t1", "type": "tools", "name": "calc", "params": {"a": 1}}]})
    assert created.status_code == 200, created.get_data(as_text=True)
    error = assert_error(post_raw(client, "/v2/update_events",
                                  '{"events": [{"id": "t1", "returns": {"v": 1e999}}]}', agentops), 400)
    assert error == "output: 1e999 is not a finite number"
    amended = client.post("/v2/update_events", headers=agentops,
                          json={"events": [{"id": "t1", "returns": {"v": 2}}]})
    assert amended.get_json() == {"status": "success", "updated": 1, "not_found": []}
    assert read_session(client, "ops-1")["events"][-1]["tool_call"]["output"] == {"v": 2}


def test_integers_beyond_64_bits_are_kept_exactly(client):
    text = '{"events": [{"session_id": "big", "event_id": "b", "input_data": {"n": %d}}]}' % 10**30
    assert post_raw(client, "/events", text).status_code == 200
    raw = client.get("/sessions/big").get_data(as_text=True)
    assert '"n":%d' % 10**30 in raw


# --- 5: lone surrogates -----------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"session_a": "\\ud800", "session_b": "x"}',
    '{"session_a": "\ud800", "session_b": "x"}',  # the raw bytes ED A0 80
])
def test_compare_with_a_lone_surrogate_is_a_400(client, text):
    error = assert_error(post_raw(client, "/sessions/compare", text), 400)
    assert error == "session_a: not valid Unicode text (lone surrogate)"


def test_reauthorize_jwt_refuses_a_lone_surrogate(client):
    error = assert_error(post_raw(client, "/v2/reauthorize_jwt", '{"session_id": "\\ud800x"}'), 400)
    assert error == "session_id: not valid Unicode text (lone surrogate)"


@pytest.mark.parametrize("text", [
    '{"events": [{"session_id": "\\udfff", "event_id": "x"}]}',
    '{"events": [{"session_id": "s", "event_id": "x", "model": "\\ud800"}]}',
    '{"events": [{"session_id": "s", "event_id": "x", "input_data": {"k\\ud800": 1}}]}',
])
def test_lone_surrogates_in_events_refuse_the_event(client, text):
    response = post_raw(client, "/events", text)
    assert response.status_code == 400
    assert "lone surrogate" in strict(response)["rejected"][0]["error"]


# --- 6: session metadata stays bounded -------------------------------------

def test_merged_session_metadata_is_capped_like_any_field(make_app):
    client = make_app(MAX_FIELD_BYTES=10_000).test_client()
    batches = []
    for n in range(3):
        metadata = {f"k{n}-{i}": "v" * 80 for i in range(50)}  # ~4.5 kB each, distinct keys
        batches.append({"events": [
            {"event_type": "session_start", "session_id": "grow", "agent_name": "a",
             "event_id": f"start-{n}", "metadata": metadata,
             "timestamp": f"2026-02-14T10:00:0{n}Z"},
            {"session_id": "other", "event_id": f"ok-{n}"}]})
    first, second, third = (client.post("/events", json=b) for b in batches)
    assert first.get_json() == {"status": "ok", "processed": 2}
    assert second.get_json() == {"status": "ok", "processed": 2}
    assert third.get_json() == {"status": "ok", "processed": 1, "rejected": [{
        "index": 0, "error": "metadata: the session's merged metadata would be larger than "
                             "the 10000-byte field limit"}]}
    session = read_session(client, "grow")
    assert len(session["metadata"]) == 100
    assert [e["event_id"] for e in session["events"]] == ["start-0", "start-1"]
    assert [e["event_id"] for e in read_session(client, "other")["events"]] == [
        "ok-0", "ok-1", "ok-2"]


def test_only_the_session_starts_whose_metadata_does_not_fit_are_refused(make_app):
    """In one batch, a start that would take the merged metadata past the cap and one
    that fits (whichever comes first): the one that fits is kept, in one more try."""
    for order in (1, -1):
        client = make_app(MAX_FIELD_BYTES=10_000).test_client()
        start = {"event_type": "session_start", "session_id": "grow", "agent_name": "a"}
        first = client.post("/events", json={"events": [
            {**start, "event_id": "big-0", "metadata": {"a": "v" * 6_000}}]})
        assert first.get_json() == {"status": "ok", "processed": 1}
        batch = [{**start, "event_id": "big-1", "metadata": {"b": "v" * 6_000}},
                 {**start, "event_id": "small", "metadata": {"c": 1}}][::order]
        assert client.post("/events", json={"events": batch}).get_json() == {
            "status": "ok", "processed": 1, "rejected": [{
                "index": [event["event_id"] for event in batch].index("big-1"),
                "error": "metadata: the session's merged metadata would be larger than the "
                         "10000-byte field limit"}]}
        session = read_session(client, "grow")
        assert session["metadata"] == {"a": "v" * 6_000, "c": 1}
        assert sorted(e["event_id"] for e in session["events"]) == ["big-0", "small"]


def test_an_sdk_update_past_the_metadata_cap_is_a_400(make_app):
    client = make_app(MAX_FIELD_BYTES=2_000).test_client()
    jwt = client.post("/v2/create_session", json={"session": {"session_id": "t"}}).get_json()["jwt"]
    headers = {"Authorization": f"Bearer {jwt}"}
    for n in range(2):
        response = client.post("/v2/update_session", headers=headers,
                               json={"session": {"session_id": "t", "host_env": {f"k{n}": "v" * 1200}}})
    error = assert_error(response, 400)
    assert error.startswith("metadata: the session's merged metadata would be larger")
    assert read_session(client, "t")["metadata"] == {"host_env": {"k0": "v" * 1200}}


def test_two_create_agent_calls_keep_both_agents_and_the_first_name(client, agentops,
                                                                   monkeypatch):
    # A millisecond apart: calls in the same millisecond tie, and the smaller name wins.
    clock = iter(range(1_772_000_000_000, 1_772_000_000_010))
    freeze_server_clock(monkeypatch, lambda: next(clock))
    for agent_id, name in (("a1", "planner"), ("a2", "coder")):
        response = client.post("/v2/create_agent", headers=agentops, json={"id": agent_id, "name": name})
        assert response.status_code == 200
    session = read_session(client, "ops-1")
    assert session["agent_name"] == "planner"
    assert session["metadata"] == {"agents": {"a1": "planner", "a2": "coder"}}


# --- transactions roll back whatever fails ---------------------------------

def test_a_failing_commit_rolls_back_and_the_connection_stays_usable(app):
    with app.app_context():
        conn = db.get_db()
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
            with db.transaction(conn):
                # A deferred foreign key: checked only at COMMIT.
                conn.execute("INSERT INTO events (session_id, event_id, event_type, ts, source) "
                             "VALUES ('no-such-session', 'e', 'x', 0, 'agentlens')")
        assert not conn.in_transaction
        events, _ = wire.parse_batch({"events": [good_event()]}, max_batch=10, max_field_bytes=1000)
        assert store_batch(conn, events).stored == 1


# --- 8: chunked bodies, through a real server -------------------------------

live = server_fixture("live")


def raw_request(server, head, body_parts, timeout=10):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            sock.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received or not complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head_text, _, body = received.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), head_text.decode(), body


def complete(received):
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("content-length:"):
            return len(body) >= int(line.split(":")[1])
    return False


def chunked(data, size=1 << 20):
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


HEAD = ("POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")


def test_chunked_body_over_the_cap_is_413_even_when_its_json_ends_early(live):
    body = json.dumps({"events": [good_event("chunky")]}).encode() + b" " * (12 << 20)
    status, _, text = raw_request(live, HEAD, chunked(body))
    assert status == 413, text[:300]
    assert json.loads(text) == {"error": "Request body is larger than 10485760 bytes"}
    assert live.get("/sessions/chunky").status_code == 404


def test_chunked_body_just_under_the_cap_is_read_whole(live):
    body = json.dumps({"events": [good_event("chunky")]}).encode()
    body += b" " * ((10 << 20) - len(body))
    status, _, text = raw_request(live, HEAD, chunked(body))
    assert status == 200, text[:300]
    assert json.loads(text) == {"status": "ok", "processed": 1}


def test_a_malformed_chunk_is_a_400(live):
    status, head, text = raw_request(live, HEAD, [b"zz\r\n{}\r\n0\r\n\r\n"])
    assert status == 400, text[:300]
    assert "application/json" in head
    assert json.loads(text)["error"].startswith("Request body could not be read")


def test_quoting_in_paths_still_reaches_sessions(client):
    client.post("/events", json={"events": [good_event("a/b c")]})
    assert read_json(client, "/sessions/" + quote("a/b c"))["session_id"] == "a/b c"


# --- U+0000 in text: neither store keeps it (PostgreSQL cannot) ------------------

@pytest.mark.parametrize("field", ["session_id", "event_id", "event_type", "model", "agent_name",
                                   "parent_id"])
def test_nul_in_a_text_field_refuses_that_event_alone(client, field):
    bad = {**good_event("good", "bad"), "agent_name": "a", field: "a\x00b"}
    response = client.post("/events", json={"events": [good_event(), bad]})
    assert response.status_code == 200
    assert response.get_json()["rejected"] == [
        {"index": 1, "error": f"{field}: contains U+0000 (NUL), which a text field cannot hold"}]
    assert [e["event_id"] for e in read_session(client, "good")["events"]] == ["ok"]


def test_nul_inside_json_fields_is_kept(client):
    event = {**good_event(), "input_data": {"prompt": "a\x00b"}, "metadata": {"k\x00": "v"}}
    assert client.post("/events", json={"events": [event]}).get_json() == {
        "status": "ok", "processed": 1}
    stored = read_session(client, "good")["events"][0]
    assert stored["input_data"] == {"prompt": "a\x00b"}


@pytest.mark.parametrize("path", ["/sessions/good%00", "/sessions?agent_name=a%00",
                                  "/sessions/good%00/export", "/analytics?agent_name=a%00"])
def test_a_lookup_by_text_with_nul_finds_nothing(client, path):
    assert client.post("/events", json={"events": [good_event()]}).status_code == 200
    response = client.get(path)
    assert response.status_code in (200, 404), response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code == 404:
        assert body == {"error": "Session not found"}
    elif "sessions" in body:
        assert body == {"sessions": [], "total": 0}
    else:
        assert body["overview"]["total_sessions"] == 0
