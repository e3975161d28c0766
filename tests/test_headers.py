"""Security headers on every response; a page's own Content-Security-Policy is kept."""
import pytest
from flask import Blueprint, Response

SECURE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def assert_secure(response):
    for name, value in SECURE.items():
        assert response.headers.get(name) == value, (name, response.status_code, response.headers)


def routes(app, pages=False):
    """The API's routes, or with ``pages`` the viewer's (its blueprints start with "web")."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and rule.endpoint.startswith("web") == pages:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule.rule.replace("<path:session_id>", "s1").replace(
                    "<path:filename>", "app.css")


def test_every_route_success_or_error(make_app):
    app = make_app(API_KEYS=["k1"])
    client = app.test_client()
    for method, path in routes(app):
        assert_secure(client.open(path, method=method, json={}))  # 401 or /health
        assert_secure(client.open(path, method=method, json={}, headers={"X-API-Key": "k1"}))


def test_every_page_has_the_common_headers_and_its_own_policy(make_app):
    app = make_app(API_KEYS=["k1"])
    client = app.test_client()
    for method, path in routes(app, pages=True):
        response = client.open(path, method=method)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "unsafe-inline" not in policy, (path, policy)


@pytest.mark.parametrize("request_args", [
    ("GET", "/nowhere", None),  # 404
    ("DELETE", "/events", None),  # 405
    ("POST", "/events", b"x" * 2048),  # 413
    ("OPTIONS", "/events", None),  # CORS preflight
], ids=["404", "405", "413", "preflight"])
def test_errors_and_preflight(make_app, request_args):
    method, path, data = request_args
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    assert_secure(client.open(path, method=method, data=data))


def test_rate_limited(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SESSIONS="1/minute").test_client()
    client.get("/sessions")
    response = client.get("/sessions")
    assert response.status_code == 429
    assert_secure(response)


def test_streamed_exports(client):
    client.post("/events", json={"events": [{"event_type": "llm_call", "session_id": "s1"}]})
    for path in ("/sessions/s1", "/sessions/s1/export", "/sessions/s1/export?format=csv"):
        response = client.get(path)
        assert response.status_code == 200
        assert_secure(response)


def test_a_page_keeps_its_own_policy_and_caching(make_app):
    app = make_app()
    pages = Blueprint("pages", __name__)

    @pages.get("/ui/page")
    def page():
        return Response("<html></html>", mimetype="text/html", headers={
            "Content-Security-Policy": "default-src 'self'", "Cache-Control": "max-age=60"})

    app.register_blueprint(pages)
    response = app.test_client().get("/ui/page")
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    assert response.headers["Cache-Control"] == "max-age=60"
    assert "X-Frame-Options" not in response.headers  # the page's policy decides framing
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_internal_error(make_app):
    app = make_app()
    broken = Blueprint("broken", __name__)

    @broken.get("/broken")
    def fail():
        raise RuntimeError("boom")

    app.register_blueprint(broken)
    response = app.test_client().get("/broken")
    assert response.status_code == 500
    assert_secure(response)
