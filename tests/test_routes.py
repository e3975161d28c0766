"""Every route is protected when keys are set, except /health, /openapi.json, the login
page and the viewer's static assets: checked over the URL map, so that a route added later
cannot forget its credential check. API routes answer 401 JSON; the viewer's pages send the
browser to the login page."""
import pytest

PUBLIC = {"/health", "/openapi.json"}
WEB_PAGES = {"/", "/ui/sessions/some-session", "/ui/export/some-session", "/ui/compare",
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
        ("GET", "/ui/compare"), ("GET", "/ui/analytics"), ("GET", "/ui/login"), ("POST", "/ui/login"),
        ("POST", "/ui/logout"),
        ("POST", "/api/v1/capture-session"), ("POST", "/api/v1/capture-event"),
        ("POST", "/v1/traces"), ("POST", "/v1/metrics"), ("POST", "/v3/auth/token"),
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
