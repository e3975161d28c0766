"""Every route is protected when keys are set, except /health and /openapi.json: checked
over the URL map, so that a route added later cannot forget its credential check."""
import pytest

PUBLIC = {"/health", "/openapi.json"}


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
        ("GET", "/health"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("POST", "/events"), ("GET", "/sessions"),
        ("GET", "/sessions/some-session"), ("GET", "/sessions/some-session/explain"),
        ("GET", "/sessions/some-session/export"), ("POST", "/sessions/compare"),
        ("GET", "/analytics"),
        ("POST", "/api/v1/capture-session"), ("POST", "/api/v1/capture-event"),
        *[("POST", f"{prefix}/{name}") for prefix in ("/v2", "")
          for name in ("create_session", "reauthorize_jwt", "update_session", "create_events",
                       "update_events", "create_agent")],
    ])


def test_every_route_but_the_public_ones_refuses_a_request_without_credentials(keyed_app):
    client = keyed_app.test_client()
    for method, path in routes(keyed_app):
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
        if path not in PUBLIC:
            response = client.open(path, method=method, json={}, headers=wrong)
            assert response.status_code == 401, (method, path, response.get_data(as_text=True))
