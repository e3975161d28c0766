"""A token the server issued stops working when the API key set it was issued under
changes: dev mode to keys and back, or another set of keys (issue 8, finding 9)."""
import base64
import json
import time

import jwt
import pytest

from helpers import assert_error

SESSION = "victim"
END_AS_FAILED = {"session": {"id": SESSION, "end_timestamp": "2026-01-01T00:05:00Z",
                             "end_state": "Fail"}}


@pytest.fixture
def apps(make_app, tmp_path):
    """``apps(keys)``: an app over one shared database and secret, with ``keys`` set."""
    database = str(tmp_path / "shared.sqlite3")
    return lambda keys: make_app(DATABASE=database, API_KEYS=keys)


def create_session(app, keys):
    """Create the session through ``app``; returns its token."""
    headers = {"X-Agentops-Api-Key": keys[0]} if keys else {}
    response = app.test_client().post("/v2/create_session", headers=headers, json={
        "session": {"session_id": SESSION, "init_timestamp": "2026-01-01T00:00:00Z"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["jwt"]


def end_session(app, token):
    return app.test_client().post("/v2/update_session", json=END_AS_FAILED,
                                  headers={"Authorization": f"Bearer {token}"})


def status_of_session(app, keys):
    headers = {"X-API-Key": keys[0]} if keys else {}
    return app.test_client().get(f"/sessions/{SESSION}", headers=headers).get_json()["status"]


@pytest.mark.parametrize("issued_under, used_under", [
    ([], ["k1"]),                 # dev mode, then the same instance restarted with a key
    (["k1"], []),                 # keys, then dev mode
    (["k1", "k2"], ["k1", "k3"]),  # another set of keys, sharing one
    (["k1"], ["k1", "k2"]),       # a key added
])
def test_a_token_from_another_key_set_is_refused(apps, issued_under, used_under):
    token = create_session(apps(issued_under), issued_under)
    later = apps(used_under)
    message = assert_error(end_session(later, token), 401)
    assert message == "Token issued under other API keys: get a new one from /v2/reauthorize_jwt"
    assert status_of_session(later, used_under) == "active"  # nothing was ended


@pytest.mark.parametrize("issued_under, used_under", [
    ([], []),
    (["k1", "k2"], ["k1", "k2"]),
    (["k1", "k2"], ["k2", "k1"]),        # order does not matter
    (["k1", "k2"], ["k2", "k1", "k2"]),  # nor repeats
])
def test_a_token_from_the_same_key_set_works(apps, issued_under, used_under):
    token = create_session(apps(issued_under), issued_under)
    later = apps(used_under)
    response = end_session(later, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"status": "success"}
    assert status_of_session(later, used_under) == "error"


def test_the_token_carries_nothing_of_the_keys(apps):
    keys = ["first-key-0123456789", "second-key-0123456789"]
    token = create_session(apps(keys), keys)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(claims) == {"session_id", "keys", "iat", "exp"}
    for key in keys:
        assert key not in json.dumps(claims)
    assert len(claims["keys"]) == 32  # 128 bits of an HMAC-SHA256, in hex


def test_a_token_reauthorized_under_the_new_keys_works(apps):
    create_session(apps([]), [])
    keyed = apps(["k1"])
    response = keyed.test_client().post("/v2/reauthorize_jwt", json={"session_id": SESSION},
                                        headers={"X-Agentops-Api-Key": "k1"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert end_session(keyed, response.get_json()["jwt"]).status_code == 200
    assert status_of_session(keyed, ["k1"]) == "error"


def test_a_token_from_before_key_sets_were_bound_is_refused(apps):
    app = apps([])
    create_session(app, [])
    now = int(time.time())
    legacy = jwt.encode({"session_id": SESSION, "iat": now, "exp": now + 3600},
                        app.config["SECRET_KEY"], algorithm="HS256")
    message = assert_error(end_session(app, legacy), 401)
    assert message == "Token issued under other API keys: get a new one from /v2/reauthorize_jwt"
