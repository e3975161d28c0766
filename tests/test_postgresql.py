"""What only PostgreSQL has: a database created on first use, migrations recorded in
``schema_migrations`` and applied once however many processes start together, the
limit on the length of keys, and the commands that are about a SQLite file."""
import random
import string
import threading
import uuid
from contextlib import closing

import psycopg
import pytest
from psycopg import sql

from agentlens import create_app, db
from agentlens.postgresql import MAX_KEY_BYTES, migration_steps
from otlp_builder import export, response_of, span
from stores import SERVER, admin_url

CONFIG = {"RATELIMIT_ENABLED": False, "SECRET_KEY": "test-secret-key-for-signing-tokens-0123456789"}


@pytest.fixture
def unused_database_url():
    name = f"agentlens_new_{uuid.uuid4().hex[:12]}"
    yield f"{SERVER}/{name}"
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_database_that_does_not_exist_is_created_and_migrated_on_first_use(unused_database_url):
    app = create_app({**CONFIG, "DATABASE": unused_database_url})
    try:
        client = app.test_client()
        response = client.post("/events", json={"events": [
            {"event_type": "session_start", "session_id": "s", "agent_name": "a",
             "timestamp": "2026-02-14T10:00:00Z"},
            {"event_type": "llm_call", "session_id": "s", "event_id": "e", "tokens_in": 4,
             "tokens_out": 2, "timestamp": "2026-02-14T10:00:01Z"}]})
        assert response.get_json() == {"status": "ok", "processed": 2}
        assert client.get("/sessions/s").get_json()["total_tokens_in"] == 4
    finally:
        db.close_all(app)
    with psycopg.connect(unused_database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [version for version, _ in migration_steps()]


def test_processes_starting_together_apply_each_step_once(unused_database_url):
    errors, reached = [], []

    def first_use():
        try:
            with closing(db.connect(unused_database_url)) as conn:
                reached.append(db.migrate(conn))
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert reached == [migration_steps()[-1][0]] * 8
    with psycopg.connect(unused_database_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT version) FROM schema_migrations"
                            ).fetchone() == (len(migration_steps()), len(migration_steps()))


@pytest.mark.parametrize("field", ["session_id", "event_id", "event_type", "model"])
def test_a_key_longer_than_the_store_keeps_refuses_that_event_alone(make_app, store, field):
    client = make_app().test_client()
    long = "k" * (MAX_KEY_BYTES + 1)
    events = [{"event_type": "llm_call", "session_id": "s", "event_id": "ok", "tokens_in": 1},
              {"event_type": "llm_call", "session_id": "s", "event_id": "long", "model": "at-limit",
               field: long},
              {"event_type": "llm_call", "session_id": "s", "event_id": "at-limit",
               "model": "é" * (MAX_KEY_BYTES // 2)}]
    body = client.post("/events", json={"events": events}).get_json()
    if store == "sqlite":  # no limit: every key is kept whole
        assert body == {"status": "ok", "processed": 3}
        return
    assert body == {"status": "ok", "processed": 2, "rejected": [{"index": 1, "error": (
        f"{field}: larger than the {MAX_KEY_BYTES}-byte limit of this store for names and ids")}]}
    stored = client.get("/sessions/s").get_json()["events"]
    assert sorted(e["event_id"] for e in stored) == ["at-limit", "ok"]


@pytest.mark.parametrize("key", ["session.id", "gen_ai.agent.name"])
def test_a_span_naming_a_session_or_agent_longer_than_the_store_keeps_is_refused_alone(
        make_app, store, key):
    """Its claim or its session update cannot be kept: the span goes, not the request."""
    client = make_app().test_client()
    trace, other = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
    named = span(trace, "b7ad6b7169203331", "invoke_agent", attrs={
        "gen_ai.operation.name": "invoke_agent", key: "k" * (MAX_KEY_BYTES + 1)})
    bystander = span(other, "00f067aa0ba902b7", "chat", attrs={"gen_ai.usage.input_tokens": 4})
    response = response_of(client.post(
        "/v1/traces", data=export([named, bystander]).SerializeToString(),
        content_type="application/x-protobuf"))
    field = "session_id" if key == "session.id" else "agent_name"
    if store == "sqlite":  # no limit: kept whole
        assert response.partial_success.rejected_spans == 0
        return
    assert response.partial_success.error_message == (
        f"1 of 2 spans rejected; the first: span b7ad6b7169203331 of trace {trace}: "
        f"{field}: larger than the {MAX_KEY_BYTES}-byte limit of this store for names and ids")
    assert [s["session_id"] for s in client.get("/sessions").get_json()["sessions"]] == [other]


def test_keys_at_the_limit_together_fit_in_one_index_entry(make_app):
    """Every key field at the limit at once, of text that does not compress: stored."""
    rng = random.Random(640)

    def key():
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(MAX_KEY_BYTES))
    client = make_app().test_client()
    session_id = key()
    events = [{"event_type": "session_start", "session_id": session_id, "event_id": key(),
               "agent_name": key()},
              {"event_type": key(), "session_id": session_id, "event_id": key(), "model": key(),
               "tokens_in": 3}]
    assert client.post("/events", json={"events": events}).get_json() == {
        "status": "ok", "processed": 2}
    assert client.get("/analytics").get_json()["overview"]["total_tokens_in"] == 3


def test_a_session_update_with_a_key_over_the_limit_is_refused(make_app, store):
    client = make_app().test_client()
    response = client.post("/events", json={"events": [
        {"event_type": "session_start", "session_id": "s", "agent_name": "a" * (MAX_KEY_BYTES + 1)}]})
    if store == "sqlite":
        assert response.get_json() == {"status": "ok", "processed": 1}
    else:
        assert response.status_code == 400
        assert response.get_json()["rejected"][0]["error"].startswith("agent_name: larger than")


@pytest.mark.parametrize("command", [["backup", "copy.sqlite3"], ["restore", "tests/conftest.py"]])
def test_backup_and_restore_point_to_the_servers_own_tools(postgresql_database, command):
    app = create_app({**CONFIG, "DATABASE": postgresql_database.new_schema()})
    try:
        with app.app_context():  # as the agentlens command runs every command
            result = app.test_cli_runner().invoke(args=command)
    finally:
        db.close_all(app)
    assert result.exit_code == 1
    assert "a PostgreSQL store is backed up with its own tools (pg_dump" in result.output
