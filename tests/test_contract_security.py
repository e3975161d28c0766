"""Contract tests for auth, rate limits, CORS and the error shape.

The contract is /work/shared/spec/agentlens-rest-api.txt plus DECISIONS.md
(DECISIONS wins). Expected values are written out by hand from the spec.
"""
import pytest
from helpers import assert_error

EVENT = {"events": [{"event_type": "llm_call", "session_id": "sec", "event_id": "sec-1",
                     "tokens_in": 5, "tokens_out": 3, "timestamp": "2026-02-14T10:30:00Z"}]}


# ---------------------------------------------------------------------------
# auth


@pytest.fixture
def keyed(make_app):
    """An app with two keys (rotation); one event stored with the first key."""
    client = make_app(API_KEYS=["k1", "k2"]).test_client()
    response = client.post("/events", json=EVENT, headers={"X-API-Key": "k1"})
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "processed": 1}
    return client


PROTECTED = [("post", "/events"), ("get", "/sessions"), ("get", "/sessions/sec"),
             ("get", "/sessions/no-such-session")]


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize("headers", [
    {}, {"X-API-Key": ""}, {"X-API-Key": "wrong"}, {"X-API-Key": "k1,k2"}, {"X-API-Key": "k"},
    {"X-API-Key": "k1k2"}, {"X-API-Key": "K1"}, {"Authorization": "Bearer k1"},
])
def test_missing_or_wrong_key_is_401_json(keyed, method, path, headers):
    kwargs = {"json": {"events": [{"session_id": "intruder"}]}} if method == "post" else {}
    assert_error(getattr(keyed, method)(path, headers=headers, **kwargs), 401)


def test_rejected_key_stores_nothing(keyed):
    response = keyed.post("/events", json={"events": [{"session_id": "intruder"}]},
                          headers={"X-API-Key": "nope"})
    assert_error(response, 401)
    listing = keyed.get("/sessions", headers={"X-API-Key": "k2"}).get_json()
    assert [s["session_id"] for s in listing["sessions"]] == ["sec"]
    assert listing["total"] == 1


@pytest.mark.parametrize("key", ["k1", "k2"])
def test_each_configured_key_works_everywhere(keyed, key):
    headers = {"X-API-Key": key}
    response = keyed.post("/events", headers=headers, json={"events": [
        {"session_id": f"by-{key}", "event_id": f"e-{key}", "timestamp": "2026-02-14T11:00:00Z"}]})
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "processed": 1}
    listing = keyed.get("/sessions", headers=headers)
    assert listing.status_code == 200
    assert [s["session_id"] for s in listing.get_json()["sessions"]] == [f"by-{key}", "sec"]
    detail = keyed.get("/sessions/sec", headers=headers)
    assert detail.status_code == 200
    assert (detail.get_json()["total_tokens_in"], detail.get_json()["total_tokens_out"]) == (5, 3)
    missing = keyed.get("/sessions/no-such-session", headers=headers)
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "Session not found"}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_health_never_needs_a_key(keyed, headers):
    response = keyed.get("/health", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"status", "timestamp"}
    assert body["status"] == "ok"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "anything"}])
def test_dev_mode_needs_no_key(client, headers):
    response = client.post("/events", json=EVENT, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "processed": 1}
    assert client.get("/sessions", headers=headers).status_code == 200
    assert client.get("/sessions/sec", headers=headers).status_code == 200


def test_health_body(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"status", "timestamp"}
    assert body["status"] == "ok"
    # "2026-02-14T10:30:00.000Z" shape: UTC ISO 8601 with milliseconds
    stamp = body["timestamp"]
    assert len(stamp) == 24 and stamp[10] == "T" and stamp[19] == "." and stamp.endswith("Z"), stamp


# ---------------------------------------------------------------------------
# rate limits


def limited(make_app, **overrides):
    config = {"RATELIMIT_ENABLED": True, "RATELIMIT_EVENTS": "3/minute",
              "RATELIMIT_SESSIONS": "3/minute", **overrides}
    return make_app(**config).test_client()


def rate_headers(response):
    """(Limit, Remaining, Reset) as integers; Reset must be seconds in [1, 60]."""
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert name in response.headers, (name, dict(response.headers))
    limit = int(response.headers["RateLimit-Limit"])
    remaining = int(response.headers["RateLimit-Remaining"])
    reset = int(response.headers["RateLimit-Reset"])
    assert 1 <= reset <= 60, reset  # seconds until the window resets, not an epoch time
    return limit, remaining, reset


def assert_429(response, limit=3):
    assert_error(response, 429)
    assert "Retry-After" in response.headers
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60, retry_after
    assert rate_headers(response)[:2] == (limit, 0)


def post_event(client, n, **kwargs):
    return client.post("/events", json={"events": [{"session_id": "rl", "event_id": f"rl-{n}"}]},
                       **kwargs)


def test_events_rate_limit_headers_count_down_then_429(make_app):
    client = limited(make_app)
    seen = []
    for n in range(3):
        response = post_event(client, n)
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "processed": 1}
        seen.append(rate_headers(response)[:2])
    assert seen == [(3, 2), (3, 1), (3, 0)]
    assert_429(post_event(client, 3))
    # the refused request stored nothing
    assert client.get("/sessions/rl").get_json()["events"].__len__() == 3


def test_sessions_limit_is_shared_by_list_and_detail(make_app):
    client = limited(make_app)
    assert post_event(client, 0).status_code == 200
    first = client.get("/sessions")
    second = client.get("/sessions/rl")
    third = client.get("/sessions/unknown-one")
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 404)
    assert third.get_json() == {"error": "Session not found"}
    assert [rate_headers(r)[:2] for r in (first, second, third)] == [(3, 2), (3, 1), (3, 0)]
    assert_429(client.get("/sessions/rl"))
    assert_429(client.get("/sessions"))


def test_events_and_sessions_limits_are_separate(make_app):
    client = limited(make_app, RATELIMIT_SESSIONS="5/minute")
    for n in range(3):
        assert post_event(client, n).status_code == 200
    assert_429(post_event(client, 3))
    response = client.get("/sessions")
    assert response.status_code == 200
    assert rate_headers(response)[:2] == (5, 4)


def test_default_limits_are_60_and_120(make_app):
    client = make_app(RATELIMIT_ENABLED=True).test_client()
    assert rate_headers(post_event(client, 0))[:2] == (60, 59)
    assert rate_headers(client.get("/sessions"))[:2] == (120, 119)
    assert rate_headers(client.get("/sessions/rl"))[:2] == (120, 118)


def test_headers_are_on_error_responses_too(make_app):
    client = limited(make_app, RATELIMIT_EVENTS="10/minute", RATELIMIT_SESSIONS="10/minute")
    bad_json = client.post("/events", data="{nope", content_type="application/json")
    assert_error(bad_json, 400)
    assert rate_headers(bad_json)[:2] == (10, 9)
    refused = client.post("/events", json={"events": [{"tokens_in": -1}]})
    assert refused.status_code == 400
    assert rate_headers(refused)[:2] == (10, 8)
    not_found = client.get("/sessions/nothing")
    assert not_found.get_json() == {"error": "Session not found"}
    assert rate_headers(not_found)[:2] == (10, 9)
    bad_query = client.get("/sessions?limit=-1")
    assert_error(bad_query, 400)
    assert rate_headers(bad_query)[:2] == (10, 8)


def test_headers_are_on_401_responses(make_app):
    client = limited(make_app, API_KEYS=["k1"])
    for response in (post_event(client, 0), client.get("/sessions"), client.get("/sessions/x")):
        assert_error(response, 401)
        limit, remaining, _ = rate_headers(response)
        assert limit == 3 and 0 <= remaining <= 2


def test_limits_are_per_client_ip(make_app):
    client = limited(make_app)
    a = {"REMOTE_ADDR": "10.0.0.1"}
    b = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(3):
        assert post_event(client, n, environ_base=a).status_code == 200
    assert_429(post_event(client, 3, environ_base=a))
    response = post_event(client, 4, environ_base=b)
    assert response.status_code == 200
    assert rate_headers(response)[:2] == (3, 2)
    for n in range(3):
        assert client.get("/sessions", environ_base=b).status_code == 200
    assert_429(client.get("/sessions", environ_base=b))
    response = client.get("/sessions", environ_base=a)
    assert response.status_code == 200
    assert rate_headers(response)[:2] == (3, 2)


def test_x_forwarded_for_is_ignored_by_default(make_app):
    client = limited(make_app)
    proxy = {"REMOTE_ADDR": "10.0.0.9"}
    for n in range(3):
        response = post_event(client, n, environ_base=proxy,
                              headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
        assert response.status_code == 200
        assert rate_headers(response)[:2] == (3, 2 - n)
    assert_429(post_event(client, 3, environ_base=proxy,
                          headers={"X-Forwarded-For": "198.51.100.77"}))
    # and a spoofed header cannot borrow another client's budget either
    other = post_event(client, 4, environ_base={"REMOTE_ADDR": "10.0.0.10"},
                       headers={"X-Forwarded-For": "10.0.0.9"})
    assert other.status_code == 200
    assert rate_headers(other)[:2] == (3, 2)


def test_x_forwarded_for_is_honoured_with_trust_proxy(make_app):
    client = limited(make_app, TRUST_PROXY=1)
    proxy = {"REMOTE_ADDR": "10.0.0.9"}
    for n in range(3):
        # one trusted hop: the client is the right-most address; spoofed ones to its left don't count
        response = post_event(client, n, environ_base=proxy,
                              headers={"X-Forwarded-For": f"6.6.6.{n}, 203.0.113.1"})
        assert response.status_code == 200
        assert rate_headers(response)[:2] == (3, 2 - n)
    assert_429(post_event(client, 3, environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.1"}))
    response = post_event(client, 4, environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.2"})
    assert response.status_code == 200
    assert rate_headers(response)[:2] == (3, 2)


def test_rate_limits_off_when_disabled(client):
    for n in range(5):
        assert post_event(client, n).status_code == 200


# ---------------------------------------------------------------------------
# CORS


def test_cors_default_allows_any_origin(client):
    response = client.get("/sessions", headers={"Origin": "https://anywhere.example"})
    assert response.status_code == 200
    assert response.headers.get("Access-Control-Allow-Origin") in ("*", "https://anywhere.example")


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS=["http://localhost:3000", "https://app.example.com"],
                    API_KEYS=["k1"]).test_client()


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://app.example.com"])
def test_cors_listed_origins_are_allowed(cors_client, origin):
    response = cors_client.get("/sessions", headers={"Origin": origin, "X-API-Key": "k1"})
    assert response.status_code == 200
    assert response.headers.get("Access-Control-Allow-Origin") == origin


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:3001",
                                    "https://app.example.com.evil.example"])
def test_cors_other_origins_are_not_allowed(cors_client, origin):
    response = cors_client.get("/sessions", headers={"Origin": origin, "X-API-Key": "k1"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path, method", [("/events", "POST"), ("/sessions", "GET"),
                                          ("/sessions/abc123", "GET")])
def test_cors_preflight_is_answered_without_a_key(cors_client, path, method):
    response = cors_client.options(path, headers={
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Content-Type, X-API-Key",
    })
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert response.headers.get("Access-Control-Allow-Origin") == "https://app.example.com"
    methods = response.headers.get("Access-Control-Allow-Methods", "").upper()
    assert method in [m.strip() for m in methods.split(",")], methods
    allowed = response.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "x-api-key" in [h.strip() for h in allowed.split(",")], allowed
    assert "content-type" in [h.strip() for h in allowed.split(",")], allowed


def test_cors_preflight_from_unlisted_origin_gets_no_allow_origin(cors_client):
    response = cors_client.options("/events", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


# ---------------------------------------------------------------------------
# error shape


@pytest.mark.parametrize("method, path", [
    ("get", "/nope"), ("post", "/nope"), ("get", "/event"), ("get", "/ui/nope"),
    ("get", "/sessions/abc/nothing-here"), ("delete", "/nope"),
])
def test_unknown_route_is_404_json(client, method, path):
    assert_error(getattr(client, method)(path), 404)


@pytest.mark.parametrize("method, path", [
    ("get", "/events"), ("put", "/events"), ("delete", "/events"), ("delete", "/sessions"),
    ("put", "/sessions"), ("patch", "/sessions/abc"), ("post", "/sessions/abc"),
    ("post", "/health"),
])
def test_wrong_method_is_405_json(client, method, path):
    assert_error(getattr(client, method)(path), 405)


def test_wrong_method_is_405_json_with_keys_too(make_app):
    client = make_app(API_KEYS=["k1"]).test_client()
    assert_error(client.get("/events", headers={"X-API-Key": "k1"}), 405)
    assert_error(client.get("/nope", headers={"X-API-Key": "k1"}), 404)


def test_413_is_json(make_app):
    client = make_app(MAX_CONTENT_LENGTH=100).test_client()
    response = client.post("/events", data='{"events": [{"model": "' + "m" * 200 + '"}]}',
                           content_type="application/json")
    assert_error(response, 413)


@pytest.mark.parametrize("data", ["{", "not json", "[1, 2", '{"events": [{"a": 1,}]}', "\x00\xff"])
def test_malformed_json_is_400_json(client, data):
    assert_error(client.post("/events", data=data, content_type="application/json"), 400)


@pytest.mark.parametrize("body", ['{"events": 1}', '{"events": {"a": 1}}', '"events"', "[]", "{}"])
def test_wrong_body_types_are_400_json(client, body):
    assert_error(client.post("/events", data=body, content_type="application/json"), 400)


def test_unexpected_exception_is_500_json_without_stack_trace(make_app):
    app = make_app()

    def explode():
        raise RuntimeError("secret internals /work/main/agentlens")

    app.add_url_rule("/__contract_explode", "contract_explode", explode)
    response = app.test_client().get("/__contract_explode")
    assert_error(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
