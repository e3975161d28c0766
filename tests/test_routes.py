"""Every route is protected when keys are set, except /health: checked over the URL map,
so that a route added later cannot forget its credential check."""
import pytest

from helpers import assert_error, read_session

PUBLIC = {"/health"}


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<path:session_id>", "some-session")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


@pytest.fixture
def keyed_app(make_app):
    return make_app(API_KEYS=["secret-key"])


def test_the_route_list_is_what_the_api_documents(keyed_app):
    assert sorted(routes(keyed_app)) == sorted([
        ("GET", "/health"), ("POST", "/events"), ("GET", "/sessions"),
        ("GET", "/sessions/some-session"), ("GET", "/sessions/some-session/explain"),
        ("GET", "/sessions/some-session/export"), ("POST", "/sessions/compare"),
        ("GET", "/analytics"),
        ("POST", "/api/v1/capture-session"), ("POST", "/api/v1/capture-event"),
        *[("POST", f"{prefix}/{name}") for prefix in ("/v2", "")
          for name in ("create_session", "reauthorize_jwt", "update_session", "create_events",
                       "update_events", "create_agent")],
    ])


def test_every_route_but_health_refuses_a_request_without_credentials(keyed_app):
    client = keyed_app.test_client()
    for method, path in routes(keyed_app):
        response = client.open(path, method=method, json={})
        if path in PUBLIC:
            assert response.status_code == 200, (method, path)
        else:
            assert response.status_code == 401, (method, path, response.get_data(as_text=True))
            assert set(response.get_json()) == {"error"}, (method, path)


def test_every_route_but_health_refuses_a_wrong_credential(keyed_app):
    client = keyed_app.test_client()
    wrong = {"X-API-Key": "nope", "X-Org-Id": "nope", "X-Agentops-Api-Key": "nope",
             "Authorization": "Bearer nope"}
    for method, path in routes(keyed_app):
        if path not in PUBLIC:
            response = client.open(path, method=method, json={}, headers=wrong)
            assert response.status_code == 401, (method, path, response.get_data(as_text=True))


def test_every_route_answers_options_in_json_without_credentials(keyed_app):
    """CORS preflights need no key; the answer is JSON like every other."""
    client = keyed_app.test_client()
    for rule in keyed_app.url_map.iter_rules():
        if rule.endpoint == "static":
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
        "allow": ["GET", "HEAD", "OPTIONS", "POST"]}
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
