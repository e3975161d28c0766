"""Every route is protected when keys are set, except /health, /openapi.json, the login
page and the viewer's static assets: checked over the URL map, so that a route added later
cannot forget its credential check. API routes answer 401 JSON; the viewer's pages send the
browser to the login page."""
import pytest

from helpers import assert_error, read_session

PUBLIC = {"/health", "/openapi.json"}
WEB_PAGES = {"/", "/ui/sessions/some-session", "/ui/export/some-session", "/ui/session",
             "/ui/export", "/ui/compare",
             "/ui/analytics", "/ui/login", "/ui/logout"}


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "web_assets.static"):
            continue
        path = rule.rule.replace("<path:session_id>", "some-session").replace(
            "<path:model>", "some-model")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


@pytest.fixture
def keyed_app(make_app):
    return make_app(API_KEYS=["secret-key"])


def test_the_route_list_is_what_the_api_documents(keyed_app):
    assert sorted(routes(keyed_app)) == sorted([
        ("GET", "/health"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("POST", "/events"), ("GET", "/sessions"),
        ("GET", "/sessions/some-session"), ("DELETE", "/sessions/some-session"),
        ("GET", "/sessions/some-session/explain"),
        ("GET", "/sessions/some-session/export"), ("POST", "/sessions/compare"),
        ("GET", "/analytics"),
        ("GET", "/pricing"), ("PUT", "/pricing/some-model"), ("DELETE", "/pricing/some-model"),
        ("GET", "/"), ("GET", "/ui/sessions/some-session"), ("GET", "/ui/export/some-session"),
        ("GET", "/ui/session"), ("GET", "/ui/export"),
        ("GET", "/ui/compare"), ("GET", "/ui/analytics"), ("GET", "/ui/login"), ("POST", "/ui/login"),
        ("POST", "/ui/logout"),
        ("POST", "/api/v1/capture-session"), ("POST", "/api/v1/capture-event"),
        ("POST", "/v1/traces"), ("POST", "/v1/metrics"), ("POST", "/v1/logs"),
        ("POST", "/v3/auth/token"),
        ("POST", "/v4/logs/upload/"),
        *[("POST", f"{prefix}/{name}") for prefix in ("/v2", "")
          for name in ("create_session", "reauthorize_jwt", "update_session", "create_events",
                       "update_events", "create_agent")],
    ])


def test_every_route_but_the_public_ones_refuses_a_request_without_credentials(keyed_app):
    client = keyed_app.test_client()
    for method, path in routes(keyed_app):
        if path in WEB_PAGES:
            continue  # tests/test_web.py: sign-in redirects, and forms need their token
        response = client.open(path, method=method, json={})
        if path in PUBLIC:
            assert response.status_code == 200, (method, path)
        else:
            assert response.status_code == 401, (method, path, response.get_data(as_text=True))
            assert set(response.get_json()) == {"error"}, (method, path)


def test_every_route_but_the_public_ones_refuses_a_wrong_credential(keyed_app):
    client = keyed_app.test_client()
    wrong = {"X-API-Key": "nope", "X-Org-Id": "nope", "X-Agentops-Api-Key": "nope",
             "Authorization": "Bearer nope"}
    for method, path in routes(keyed_app):
        if path not in PUBLIC and path not in WEB_PAGES:
            response = client.open(path, method=method, json={}, headers=wrong)
            assert response.status_code == 401, (method, path, response.get_data(as_text=True))


def test_every_page_but_login_sends_a_browser_without_a_session_to_sign_in(keyed_app):
    client = keyed_app.test_client()
    wrong = {"X-API-Key": "secret-key", "Cookie": "session=forged"}  # a page takes no header key
    for method, path in routes(keyed_app):
        if path not in WEB_PAGES or path == "/ui/login" or method != "GET":
            continue
        for headers in ({}, wrong):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 302, (method, path)
            assert response.headers["Location"].startswith("/ui/login?next="), (method, path)


def test_every_route_answers_options_in_json_without_credentials(keyed_app):
    """CORS preflights need no key; the answer is JSON like every other. (The viewer's
    pages are for the browser that signed in, not for other origins.)"""
    client = keyed_app.test_client()
    for rule in keyed_app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("web"):
            continue
        path = rule.rule.replace("<path:session_id>", "some-session")
        response = client.options(path, headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key, Content-Type"})
        assert response.status_code == 200, path
        assert response.mimetype == "application/json", path
        assert response.get_json() == {"allow": sorted(response.allow)}, path
        assert rule.methods <= set(response.allow), path
        assert response.headers["Access-Control-Allow-Origin"] == "http://app.example", path
        assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, X-API-Key", path


def test_options_lists_every_method_of_the_path(client):
    # /sessions/compare is also GET: the session named "compare".
    assert client.options("/sessions/compare").get_json() == {
        "allow": ["DELETE", "GET", "HEAD", "OPTIONS", "POST"]}
    assert client.options("/events").get_json() == {"allow": ["OPTIONS", "POST"]}


@pytest.mark.parametrize("path", ["/sessions//export", "/sessions//explain", "/sessions//x",
                                  "/sessions//export?format=csv"])
def test_an_empty_session_id_segment_is_a_json_404_not_a_redirect(client, path):
    # No session has an empty id (ingest refuses one): the path names nothing.
    assert assert_error(client.get(path), 404) == f"Not found: {path.split('?')[0]}"


def test_double_slashes_in_a_session_id_are_kept(client):
    events = [{"event_type": "session_start", "session_id": "a//b", "agent_name": "double"},
              {"event_type": "session_start", "session_id": "a/b", "agent_name": "single"}]
    assert client.post("/events", json={"events": events}).status_code == 200
    assert read_session(client, "a//b")["agent_name"] == "double"
    assert client.get("/sessions/a//b").get_json()["agent_name"] == "double"
    assert client.get("/sessions/a//b/export").get_json()["session"]["agent_name"] == "double"


def test_a_session_id_with_a_newline_is_read_back(client):
    events = [{"event_type": "session_start", "session_id": "line\nbreak", "agent_name": "nl"}]
    assert client.post("/events", json={"events": events}).status_code == 200
    assert read_session(client, "line\nbreak")["agent_name"] == "nl"
    assert client.get("/sessions/line%0Abreak/explain").status_code == 200
