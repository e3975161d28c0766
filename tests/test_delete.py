"""DELETE /sessions/<id>: the session, its events and every figure they fed are gone,
exactly: the store then shows what a store that never had the session shows."""
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlens import recount
from agentlens.db import get_db
from agentlens.ingest import store
from agentlens.ingest.events import session_update
from helpers import assert_error, freeze_server_clock
from store_figures import NOW, SESSIONS, assert_same_as_fresh, load


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    freeze_server_clock(monkeypatch, NOW)


def delete(client, session_id, headers=None):
    return client.delete(f"/sessions/{quote(session_id, safe='')}", headers=headers or {})


def test_delete_answers_204_and_the_session_is_gone(client, conn):
    load(client, ["s-0", "team/s-1"])
    response = delete(client, "team/s-1")
    assert (response.status_code, response.get_data()) == (204, b"")
    assert_error(client.get(f"/sessions/{quote('team/s-1', safe='')}"), 404)
    assert conn.execute("SELECT count(*) FROM events WHERE session_id = 'team/s-1'").fetchone()[0] == 0
    assert [s["session_id"] for s in client.get("/sessions").get_json()["sessions"]] == ["s-0"]


def test_an_unknown_session_is_404_and_changes_nothing(client, conn):
    load(client, ["s-0"])
    before = client.get("/analytics").get_json()
    response = delete(client, "nope")
    assert assert_error(response, 404) == "Session not found"
    assert response.get_json() == {"error": "Session not found"}
    assert client.get("/analytics").get_json() == before
    assert_error(delete(client, "s-0/explain"), 404)  # an id, not the explain route


def test_deleting_twice_is_404_the_second_time(client):
    load(client, ["s-2"])
    assert delete(client, "s-2").status_code == 204
    assert_error(delete(client, "s-2"), 404)


def test_with_keys_set_a_key_is_required(make_app):
    client = make_app(API_KEYS=["k1", "k2"]).test_client()
    load(client, ["s-0"], headers={"X-API-Key": "k1"})
    assert assert_error(delete(client, "s-0"), 401).startswith("Missing API key")
    assert assert_error(delete(client, "s-0", {"X-API-Key": "wrong"}), 401) == "Invalid API key"
    assert client.get("/sessions/s-0", headers={"X-API-Key": "k1"}).status_code == 200
    assert delete(client, "s-0", {"X-API-Key": "k2"}).status_code == 204


def test_delete_counts_against_the_sessions_rate_limit(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SESSIONS="2/minute").test_client()
    assert client.get("/sessions").status_code == 200
    assert_error(delete(client, "nope"), 404)
    response = delete(client, "nope")
    assert_error(response, 429)
    assert response.headers["RateLimit-Limit"] == "2"


def test_a_large_session_goes_over_several_exact_transactions(client, conn, monkeypatch):
    monkeypatch.setattr(store, "DELETE_EVENTS", 2)
    load(client, ["s-3", "s-7"])  # 6 and 7 stored events
    states = []
    real = store.delete_sessions

    def each_transaction(conn, choose):
        result = real(conn, choose)
        states.append((result, recount.check(conn)))
        return result

    monkeypatch.setattr(store, "delete_sessions", each_transaction)
    assert store.delete_session(conn, "s-7")
    assert states == [((0, 2), []), ((0, 2), []), ((0, 2), []), ((1, 1), [])]
    assert not store.delete_session(conn, "s-7")


def test_a_session_without_events_is_deleted(conn):
    store.store_batch(conn, [], [session_update("bare", ts=NOW, source="agentops",
                                                max_field_bytes=1000, agent_name="named")])
    assert store.delete_session(conn, "bare")
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    assert recount.check(conn) == []


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kept=st.sets(st.sampled_from(sorted(SESSIONS))))
def test_after_deletes_every_figure_equals_a_store_that_never_had_them(make_app, monkeypatch,
                                                                       kept):
    monkeypatch.setattr(store, "DELETE_EVENTS", 3)  # most sessions take several transactions
    app = make_app()
    with app.app_context():
        client = app.test_client()
        load(client, sorted(SESSIONS))
        for session_id in sorted(set(SESSIONS) - kept):
            assert delete(client, session_id).status_code == 204
        assert_same_as_fresh(client, get_db(), make_app, sorted(kept))
