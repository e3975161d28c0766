"""Fuzzing the read routes, credentials and client addresses in-process: query parameters,
session ids in the path, compare bodies, any method on any route, API keys and
X-Forwarded-For. No answer is a 5xx or anything but strict JSON (a CSV export aside)."""
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings, strategies as st

from fuzz import (FUZZ, KEYS, STRINGS, Raw, bad_values, check_answer, content_types, dump,
                  forwarded_for, header_texts, queries, texts)

SEEDED = ["alpha", "beta/with/slashes", "gamma ünïcode"]
MODES = {
    "dev mode": {},
    "keys set": {"API_KEYS": KEYS},
    "behind a proxy, limits on": {"TRUST_PROXY": 2, "RATELIMIT_ENABLED": True},
}


@pytest.fixture(params=list(MODES), scope="module")
def reader(request, tmp_path_factory):
    """An app with three stored sessions; reads change nothing, so examples share it."""
    from agentlens import create_app
    from agentlens.db import close_all

    app = create_app({"DATABASE": str(tmp_path_factory.mktemp("fuzz") / "reads.sqlite3"),
                      "RATELIMIT_ENABLED": False, "SECRET_KEY": "fuzz-secret-key-0123456789abcdef",
                      **MODES[request.param]})
    client = app.test_client()
    headers = {"X-API-Key": KEYS[0]}
    for number, session_id in enumerate(SEEDED):
        events = [{"event_type": "session_start", "session_id": session_id, "agent_name": "fuzz",
                   "metadata": {"n": number}},
                  {"event_type": "llm_call", "session_id": session_id, "event_id": "e1",
                   "model": "gpt-4o", "tokens_in": 10, "tokens_out": 5, "duration_ms": 12.5,
                   "tool_call": {"name": "search", "input": {"q": "x"}, "output": "y"}}]
        response = client.post("/events", json={"events": events}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    yield app
    close_all(app)


def send(app, method, path, query="", body=None, headers=None, csv_allowed=False):
    headers = {key: value for key, value in (headers or {}).items() if value is not None}
    keyed = app.config["API_KEYS"]
    if keyed and "X-API-Key" not in headers:
        headers["X-API-Key"] = keyed[0]
    response = app.test_client().open(path, method=method, query_string=query, data=body,
                                      headers=headers)
    data = response.get_data()
    if method == "HEAD":
        assert response.status_code < 500 and data == b"", (response.status_code, data)
        return response.status_code, None
    return response.status_code, check_answer(response.status_code, response.content_type or "",
                                               data, csv_allowed)


def query_text(pairs):
    """A raw query string; %-sequences in values stay as written (e.g. %ff, not UTF-8)."""
    return "&".join(f"{name}={quote(value, safe='%')}" for name, value in pairs)


session_ids = st.one_of(st.sampled_from(SEEDED), texts,
                        st.sampled_from(["%ff", "%ed%a0%80", "%00", "..", "a//b", "%2F", "/",
                                         "x/explain", "x/export", "%", "%zz", "\u202e"]))


@settings(FUZZ, max_examples=40)
@given(path=st.sampled_from(["/sessions", "/analytics"]), pairs=queries,
       client_address=forwarded_for)
def test_listing_and_analytics_queries(reader, path, pairs, client_address):
    status, _ = send(reader, "GET", path, query_text(pairs), headers={
        "X-Forwarded-For": client_address})
    assert status in (200, 400, 429)


@settings(FUZZ, max_examples=40)
@given(session_id=session_ids, suffix=st.sampled_from(["", "/explain", "/export"]),
       pairs=queries)
def test_session_reads_by_path(reader, session_id, suffix, pairs):
    path = f"/sessions/{quote(session_id, safe='%/')}{suffix}"
    status, _ = send(reader, "GET", path, query_text(pairs), csv_allowed=True)
    assert status in (200, 400, 404, 429)


compared = st.one_of(st.sampled_from(STRINGS), st.sampled_from(SEEDED), texts, bad_values)
compare_bodies = st.one_of(
    st.fixed_dictionaries({"session_a": compared, "session_b": compared}), bad_values)


@settings(FUZZ, max_examples=40)
@given(body=compare_bodies, ascii_only=st.booleans(), content_type=content_types)
@example(body={"session_a": Raw(r'"\ud800"'), "session_b": "x"}, ascii_only=True,
         content_type="application/json")  # issue 8, finding 5
@example(body={"session_a": Raw(b'"\xed\xa0\x80"'), "session_b": "x"}, ascii_only=True,
         content_type="application/json")
def test_compare_bodies(reader, body, ascii_only, content_type):
    status, answer = send(reader, "POST", "/sessions/compare", body=dump(body, ascii_only),
                          headers={"Content-Type": content_type})
    assert status in (200, 400, 404, 429)
    if isinstance(body, dict) and body.get("session_a") in SEEDED and body.get(
            "session_b") in SEEDED:
        assert status in (200, 429), answer


# The API's routes with their method (the pages under / and /ui/ may answer HTML).
ROUTES = {"/health": "GET", "/events": "POST", "/sessions": "GET", "/sessions/alpha": "GET",
          "/sessions/alpha/explain": "GET", "/sessions/alpha/export": "GET",
          "/sessions/compare": "POST", "/analytics": "GET", "/api/v1/capture-session": "POST",
          "/api/v1/capture-event": "POST", "/v2/create_session": "POST",
          "/create_events": "POST", "/v2/update_events": "POST", "/v2/reauthorize_jwt": "POST",
          "/v2/nowhere": "GET"}


# DELETE is left out: it would take the readers' seeded sessions away (tests/test_delete.py).
@settings(FUZZ, max_examples=60)
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "OPTIONS", "HEAD", "TRACE"]),
       path=st.sampled_from(list(ROUTES)), body=st.none() | bad_values.map(dump),
       content_type=content_types, client_address=forwarded_for)
def test_any_method_on_any_route(reader, method, path, body, content_type, client_address):
    send(reader, method, path, body=body, csv_allowed=True,
         headers={"Content-Type": content_type, "X-Forwarded-For": client_address})


@settings(FUZZ, max_examples=40)
@given(path=st.sampled_from(list(ROUTES)), key=header_texts, header=st.sampled_from(
    ["X-API-Key", "X-Org-Id", "X-Agentops-Api-Key", "Authorization"]))
def test_credentials(reader, path, key, header):
    """With keys set, a wrong credential is a 401 on every route but /health."""
    headers = {"X-API-Key": key} if header == "X-API-Key" else {header: key, "X-API-Key": ""}
    status, _ = send(reader, ROUTES[path], path, body=b"{}", headers=headers)
    if reader.config["API_KEYS"] and key not in KEYS and path not in ("/health", "/v2/nowhere"):
        assert status == 401
