"""Cost through the API: the new event fields, where cost shows, /pricing, the prices
file, several workers, and ``agentlens reprice``.

Expected costs are worked out by hand from the providers' published prices per
million tokens (USD): gpt-4o $2.50 input, $1.25 cached input, $10 output; gpt-4o-mini
$0.15 / $0.075 / $0.60; claude-sonnet-4 $3 input, $0.30 cache read, $3.75 cache
write, $15 output. $P per million tokens is P µ$ per token.
"""
import csv
import io
import re

import pytest
from helpers import assert_error, read_json, read_session

from agentlens import recount
from agentlens.db import get_db

START = {"event_type": "session_start", "session_id": "s", "agent_name": "coster",
         "timestamp": "2026-03-01T10:00:00Z"}


def llm(event_id, model, tokens_in, tokens_out, session_id="s", second=1, **fields):
    return {"event_type": "llm_call", "session_id": session_id, "event_id": event_id,
            "model": model, "tokens_in": tokens_in, "tokens_out": tokens_out,
            "timestamp": f"2026-03-01T10:00:{second:02d}Z", **fields}


def post(client, events, status=200):
    response = client.post("/events", json={"events": events})
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


# The three models of the issue, with cached and reasoning tokens.
PRICED = [
    START,
    # 1000 in of which 400 cached, 500 out of which 200 reasoning:
    # 600 x 2.5 + 400 x 1.25 + 500 x 10 = 7000 µ$
    llm("e1", "gpt-4o", 1000, 500, cache_read_tokens=400, reasoning_tokens=200,
        provider="openai"),
    # 2000 in of which 1000 cached, 300 out: 1000 x 0.15 + 1000 x 0.075 + 300 x 0.6 = 405 µ$
    llm("e2", "gpt-4o-mini", 2000, 300, second=2, cache_read_tokens=1000),
    # 10,000 in = 2000 + 6000 cache reads + 2000 cache writes, 1000 out:
    # 2000 x 3 + 6000 x 0.3 + 2000 x 3.75 + 1000 x 15 = 30,300 µ$
    llm("e3", "claude-sonnet-4", 10_000, 1000, second=3, cache_read_tokens=6000,
        cache_write_tokens=2000, provider="anthropic"),
]
PRICED_TOTAL = 0.037705  # 7000 + 405 + 30,300 µ$


def test_each_event_and_the_session_carry_their_cost(client):
    post(client, PRICED)
    body = read_session(client, "s")
    assert (body["total_cost_usd"], body["cost_complete"]) == (PRICED_TOTAL, True)
    e1, e2, e3 = body["events"][1:]
    assert {key: e1[key] for key in ("provider", "tokens_in", "tokens_out", "cache_read_tokens",
                                     "cache_write_tokens", "reasoning_tokens", "cost_usd")} == {
        "provider": "openai", "tokens_in": 1000, "tokens_out": 500, "cache_read_tokens": 400,
        "cache_write_tokens": None, "reasoning_tokens": 200, "cost_usd": 0.007}
    assert (e2["cost_usd"], e2["cache_read_tokens"]) == (0.000405, 1000)
    assert (e3["cost_usd"], e3["cache_write_tokens"]) == (0.0303, 2000)
    assert body["events"][0]["cost_usd"] is None          # a session_start costs nothing
    listed = read_json(client, "/sessions")["sessions"][0]
    assert (listed["total_cost_usd"], listed["cost_complete"]) == (PRICED_TOTAL, True)


def test_a_cost_the_client_gives_wins(client):
    post(client, [START,
                  llm("e1", "gpt-4o", 1000, 500, cost_usd=0.5),        # list price: 7500 µ$
                  llm("e2", "my-finetune", 10, 10, second=2, cost_usd=0.000123),
                  llm("e3", "gpt-4o", 10, 10, second=3, cost_usd=0)])  # free is a price too
    body = read_session(client, "s")
    assert [e["cost_usd"] for e in body["events"][1:]] == [0.5, 0.000123, 0.0]
    assert (body["total_cost_usd"], body["cost_complete"]) == (0.500123, True)


def test_an_unknown_model_is_unpriced_never_zero(client):
    post(client, [START, llm("e1", "gpt-4o", 1000, 0),                 # 2500 µ$
                  llm("e2", "my-finetune", 100, 20, second=2),
                  llm("e3", None, 5, 0, second=3),                      # tokens, no model
                  {"event_type": "tool_call", "session_id": "s", "event_id": "e4",
                   "timestamp": "2026-03-01T10:00:04Z", "tool_call": {"name": "t"}}])
    body = read_session(client, "s")
    assert [e["cost_usd"] for e in body["events"][1:]] == [0.0025, None, None, None]
    assert (body["total_cost_usd"], body["cost_complete"]) == (0.0025, False)
    analytics = read_json(client, "/analytics")
    assert analytics["overview"]["total_cost_usd"] == 0.0025
    assert [(m["model"], m["cost_usd"]) for m in analytics["model_usage"]] == [
        ("gpt-4o", 0.0025), ("my-finetune", None)]
    assert analytics["unpriced_models"] == [{"model": "my-finetune", "calls": 1, "tokens": 120},
                                            {"model": None, "calls": 1, "tokens": 5}]
    compared = client.post("/sessions/compare",
                           json={"session_a": "s", "session_b": "s"}).get_json()
    assert compared["session_a"]["models"]["my-finetune"]["cost_usd"] is None
    assert (compared["session_a"]["cost_usd"], compared["session_a"]["cost_complete"]) == (
        0.0025, False)
    explanation = client.get("/sessions/s/explain").get_json()["explanation"]
    assert "- **Cost:** $0.002500 (incomplete: 2 events with tokens but no price)\n" in explanation
    rows = list(csv.DictReader(io.StringIO(client.get("/sessions/s/export?format=csv").get_data(
        as_text=True))))
    assert [row["cost_usd"] for row in rows] == ["", "0.002500", "", "", ""]


def test_exports_carry_the_cost(client):
    post(client, PRICED)
    exported = read_json(client, "/sessions/s/export")
    assert (exported["summary"]["total_cost_usd"], exported["summary"]["cost_complete"]) == (
        PRICED_TOTAL, True)
    assert [e["cost_usd"] for e in exported["events"]] == [None, 0.007, 0.000405, 0.0303]
    rows = list(csv.DictReader(io.StringIO(client.get("/sessions/s/export?format=csv").get_data(
        as_text=True))))
    assert [row["cost_usd"] for row in rows] == ["", "0.007000", "0.000405", "0.030300"]
    explanation = client.get("/sessions/s/explain").get_json()["explanation"]
    assert "- **Cost:** $0.037705\n" in explanation


def test_analytics_cost_by_agent_model_and_day(client):
    post(client, PRICED + [
        {**START, "session_id": "t", "agent_name": "other", "timestamp": "2026-03-02T09:00:00Z"},
        # 100 x 2.5 + 10 x 10 = 350 µ$, a day later
        {**llm("t1", "gpt-4o", 100, 10, session_id="t"), "timestamp": "2026-03-02T09:00:01Z"},
    ])
    analytics = read_json(client, "/analytics?from=2026-01-01T00:00:00Z")
    assert analytics["overview"]["total_cost_usd"] == 0.038055     # 37,705 + 350 µ$
    assert [(a["agent_name"], a["total_cost_usd"]) for a in analytics["top_agents"]] == [
        ("coster", PRICED_TOTAL), ("other", 0.00035)]
    # By tokens: 11,000, then 2,300, then 1,500 + 110.
    assert [(m["model"], m["cost_usd"]) for m in analytics["model_usage"]] == [
        ("claude-sonnet-4", 0.0303), ("gpt-4o-mini", 0.000405), ("gpt-4o", 0.00735)]
    assert analytics["unpriced_models"] == []
    assert read_json(client, "/analytics?agent_name=other")["overview"]["total_cost_usd"] == 0.00035


def test_compare_cost_per_side_delta_and_model(client):
    post(client, PRICED + [
        {**START, "session_id": "t"},
        # 600 x 2.5 + 400 x 1.25 + 500 x 10 = 7000 µ$
        llm("t1", "gpt-4o", 1000, 500, session_id="t", cache_read_tokens=400),
    ])
    compared = client.post("/sessions/compare",
                           json={"session_a": "s", "session_b": "t"}).get_json()
    a, b = compared["session_a"], compared["session_b"]
    assert (a["cost_usd"], b["cost_usd"]) == (PRICED_TOTAL, 0.007)
    assert a["models"]["gpt-4o"]["cost_usd"] == 0.007
    assert b["models"] == {"gpt-4o": {"calls": 1, "tokens_in": 1000, "tokens_out": 500,
                                      "cost_usd": 0.007}}
    # 0.007 - 0.037705 = -0.030705, which is -81.43 % of 0.037705 (-81.4348...)
    assert compared["deltas"]["cost_usd"] == {"absolute": -0.030705, "percent": -81.43}


def test_retries_and_late_events_leave_every_cost_figure_the_same(make_app):
    in_order = make_app()
    shuffled = make_app()
    end = {"event_type": "session_end", "session_id": "s", "timestamp": "2026-03-01T10:00:02Z",
           "total_tokens_in": 5, "total_tokens_out": 5}
    post(in_order.test_client(), PRICED + [end])
    client = shuffled.test_client()
    post(client, [end, PRICED[3]])              # the end first
    post(client, [PRICED[1], PRICED[3]])        # a late event (after the end), a retry
    post(client, PRICED)                        # everything again
    for app in (in_order, shuffled):
        client = app.test_client()
        assert read_session(client, "s")["total_cost_usd"] == PRICED_TOTAL
        with app.app_context():
            assert recount.check(get_db()) == []
    # (events at the same time are listed in arrival order: compared by id)
    figures = [[{**session, "events": sorted(session["events"], key=lambda e: e["event_id"])},
                read_json(app.test_client(), "/analytics")]
               for app in (in_order, shuffled)
               for session in [read_session(app.test_client(), "s")]]
    assert figures[0] == figures[1]


@pytest.mark.parametrize("fields, named", [
    ({"cache_read_tokens": -1}, "cache_read_tokens"),
    ({"cache_write_tokens": 1.5}, "cache_write_tokens"),
    ({"reasoning_tokens": "3"}, "reasoning_tokens"),
    ({"cache_read_tokens": 11}, "cache_read_tokens"),          # above tokens_in (10)
    ({"cache_read_tokens": 6, "cache_write_tokens": 5}, "cache_write_tokens"),
    ({"reasoning_tokens": 6}, "reasoning_tokens"),             # above tokens_out (5)
    ({"cost_usd": -0.01}, "cost_usd"),
    ({"cost_usd": "0.01"}, "cost_usd"),
    ({"cost_usd": 10**7}, "cost_usd"),
    ({"provider": 7}, "provider"),
])
def test_bad_buckets_or_cost_refuse_that_event_naming_the_field(client, fields, named):
    body = post(client, [llm("good", "gpt-4o", 10, 5), llm("bad", "gpt-4o", 10, 5, **fields)])
    assert body["processed"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert body["rejected"][0]["error"].startswith(f"{named}: "), body["rejected"]
    assert [e["event_id"] for e in read_session(client, "s")["events"]] == ["good"]


def test_agentops_cost_is_the_clients_and_an_unusable_one_is_kept_aside(app, client):
    """The SDK's own ``cost`` wins over the list price; one that is not a usable amount
    (negative, text) refuses nothing: it is kept on the event's metadata, and the event
    is priced from its tokens like one without a cost."""
    from test_format_agentops import bearer, token_for

    token = token_for(app, client, "ao", init_timestamp="2026-03-01T10:00:00Z")
    response = client.post("/v2/create_events", headers=bearer(token), json={"events": [
        {"id": "a1", "type": "llm", "model": "gpt-4o", "prompt_tokens": 1000,
         "completion_tokens": 0, "init_timestamp": "2026-03-01T10:00:01Z", "cost": 0.002},
        {"id": "a2", "type": "llm", "model": "gpt-4o", "prompt_tokens": 1000,
         "init_timestamp": "2026-03-01T10:00:02Z", "cost": -1}]})
    assert response.get_json() == {"status": "ok", "processed": 2}
    first, second = read_session(client, "ao")["events"][1:]
    assert (first["cost_usd"], first["metadata"]) == (0.002, None)   # not 2500 µ$ of list price
    # 1000 in x $2.50 per million = 2500 µ$
    assert (second["cost_usd"], second["metadata"]) == (0.0025, {"cost": -1})
    # an amendment's cost is the client's too
    response = client.post("/v2/update_events", headers=bearer(token),
                           json={"events": [{"id": "a1", "cost": 0.003}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert read_session(client, "ao")["total_cost_usd"] == 0.0055
    # an amended event without the client's cost is priced again with its new figures:
    # a3 from 100 x 2.5 = 250 µ$ to gpt-4o-mini 1000 x 0.15 + 10 x 0.6 = 156 µ$
    response = client.post("/v2/create_events", headers=bearer(token), json={"events": [
        {"id": "a3", "type": "llm", "model": "gpt-4o", "prompt_tokens": 100,
         "init_timestamp": "2026-03-01T10:00:03Z"}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert read_session(client, "ao")["total_cost_usd"] == 0.00575
    response = client.post("/v2/update_events", headers=bearer(token), json={"events": [
        {"id": "a3", "model": "gpt-4o-mini", "prompt_tokens": 1000, "completion_tokens": 10}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [e["cost_usd"] for e in read_session(client, "ao")["events"][1:]] == [
        0.003, 0.0025, 0.000156]
    assert read_session(client, "ao")["total_cost_usd"] == 0.005656
    with app.app_context():
        assert recount.check(get_db()) == []


# --- /pricing ------------------------------------------------------------------

def put_price(client, model, body, status=200):
    response = client.put(f"/pricing/{model}", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def test_get_pricing_lists_the_models_seen_and_the_overrides(client):
    post(client, [START, llm("e1", "gpt-4o", 1, 1), llm("e2", "my-finetune", 1, 1, second=2)])
    put_price(client, "later-model",
              {"input": 1, "output": 2, "valid_from": "2999-01-01T00:00:00Z"})
    body = read_json(client, "/pricing")
    assert body == {
        "catalog": "genai-prices 0.2.3",
        "models": [
            {"model": "gpt-4o", "input": 2.5, "cached_input": 1.25, "cache_write": None,
             "output": 10.0, "source": "genai-prices 0.2.3", "valid_from": None},
            # its override starts in 2999: no price today
            {"model": "later-model", "input": None, "cached_input": None, "cache_write": None,
             "output": None, "source": None, "valid_from": None},
            {"model": "my-finetune", "input": None, "cached_input": None, "cache_write": None,
             "output": None, "source": None, "valid_from": None},
        ],
        "overrides": [{"model": "later-model", "input": 1.0, "cached_input": None,
                       "cache_write": None, "output": 2.0,
                       "valid_from": "2999-01-01T00:00:00.000Z", "origin": "api"}],
    }


def test_put_prices_new_events_and_delete_removes_it(client):
    stored = put_price(client, "my-finetune", {"input": 1.5, "cached_input": 0.5, "output": 6})
    assert stored == {"model": "my-finetune", "input": 1.5, "cached_input": 0.5,
                      "cache_write": None, "output": 6.0, "valid_from": None, "origin": "api"}
    # 1000 in (400 cached), 100 out: 600 x 1.5 + 400 x 0.5 + 100 x 6 = 1700 µ$
    post(client, [START, llm("e1", "my-finetune", 1000, 100, cache_read_tokens=400)])
    assert read_session(client, "s")["events"][1]["cost_usd"] == 0.0017
    listed = read_json(client, "/pricing")["models"]
    assert listed == [{"model": "my-finetune", "input": 1.5, "cached_input": 0.5,
                       "cache_write": None, "output": 6.0, "source": "override",
                       "valid_from": None}]
    # the same model and date again replaces it
    put_price(client, "my-finetune", {"input": 2, "output": 6})
    assert [o["input"] for o in read_json(client, "/pricing")["overrides"]] == [2.0]
    assert client.delete("/pricing/my-finetune").get_json() == {"deleted": 1}
    post(client, [llm("e2", "my-finetune", 1000, 100, second=2)])
    assert read_session(client, "s")["events"][2]["cost_usd"] is None
    # stored events keep the price they were stored with
    assert read_session(client, "s")["events"][1]["cost_usd"] == 0.0017
    assert "No price override" in assert_error(client.delete("/pricing/my-finetune"), 404)


def test_model_names_with_slashes_and_dated_overrides(client):
    put_price(client, "meta-llama/Llama-3-70b", {"input": 1, "output": 1})
    put_price(client, "meta-llama/Llama-3-70b",
              {"input": 2, "output": 2, "valid_from": "2026-03-01T10:00:02Z"})
    post(client, [START, llm("e1", "meta-llama/Llama-3-70b", 100, 0, second=1),
                  llm("e2", "meta-llama/Llama-3-70b", 100, 0, second=2)])
    assert [e["cost_usd"] for e in read_session(client, "s")["events"][1:]] == [0.0001, 0.0002]
    response = client.delete("/pricing/meta-llama/Llama-3-70b?valid_from=2026-03-01T10:00:02Z")
    assert response.get_json() == {"deleted": 1}
    assert [(o["model"], o["valid_from"]) for o in read_json(client, "/pricing")["overrides"]] == [
        ("meta-llama/Llama-3-70b", None)]


@pytest.mark.parametrize("body, named", [
    ({"output": 1}, "input"),
    ({"input": -1, "output": 1}, "input"),
    ({"input": 1, "output": "2"}, "output"),
    ({"input": 1, "output": 1, "cache_write": -3}, "cache_write"),
    ({"input": 1, "output": 1, "valid_from": "soon"}, "valid_from"),
    ({"input": 1, "output": 1, "cahced_input": 1}, "cahced_input"),
    ([], "body"),
])
def test_a_bad_put_is_400_naming_the_field(client, body, named):
    assert named in assert_error(client.put("/pricing/m", json=body), 400)
    assert read_json(client, "/pricing")["overrides"] == []


def test_a_put_that_is_not_json_is_400(client):
    assert_error(client.put("/pricing/m", data="{", content_type="application/json"), 400)
    assert_error(client.put("/pricing/" + "m" * 257, json={"input": 1, "output": 1}), 400)


def test_an_override_reaches_every_worker_by_the_next_batch(make_app, tmp_path):
    """Two apps on one database stand for two gunicorn workers: each keeps its own price
    book, and a PUT through one is in force in the other from its next batch."""
    path = str(tmp_path / "shared.sqlite3")
    first, second = make_app(DATABASE=path).test_client(), make_app(DATABASE=path).test_client()
    post(second, [START, llm("e1", "my-finetune", 1000, 0)])          # second's book: no price
    put_price(first, "my-finetune", {"input": 3, "output": 3})
    post(second, [llm("e2", "my-finetune", 1000, 0, second=2)])      # 1000 x 3 = 3000 µ$
    assert [e["cost_usd"] for e in read_session(second, "s")["events"][1:]] == [None, 0.003]
    first.delete("/pricing/my-finetune")
    post(second, [llm("e3", "my-finetune", 1000, 0, second=3)])
    assert read_session(second, "s")["events"][3]["cost_usd"] is None


def test_pricing_has_its_rate_limit(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PRICING="2/minute").test_client()
    assert [client.get("/pricing").status_code for _ in range(3)] == [200, 200, 429]
    assert client.post("/events", json={"events": [START]}).status_code == 200  # its own count


def test_the_prices_file_is_read_at_start(make_app, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text('{"my-finetune": {"input": 4, "output": 8}}')
    client = make_app(PRICES_FILE=str(path)).test_client()
    post(client, [START, llm("e1", "my-finetune", 100, 10)])      # 400 + 80 µ$
    assert read_session(client, "s")["events"][1]["cost_usd"] == 0.00048
    assert read_json(client, "/pricing")["overrides"][0]["origin"] == "file"
    # one set through the API for the same model and date wins over the file's
    put_price(client, "my-finetune", {"input": 1, "output": 1})
    post(client, [llm("e2", "my-finetune", 100, 10, second=2)])
    assert read_session(client, "s")["events"][2]["cost_usd"] == 0.00011
    path.write_text('{"my-finetune": {"input": "cheap", "output": 8}}')
    with pytest.raises(SystemExit, match=r"AGENTLENS_PRICES=.*my-finetune.input"):
        make_app(PRICES_FILE=str(path))


# --- agentlens reprice -----------------------------------------------------------

def test_reprice_dry_run_then_real(app, client):
    post(client, [START, llm("e1", "my-finetune", 1000, 100),
                  llm("e2", "gpt-4o", 1000, 0, second=2),                     # 2500 µ$
                  llm("e3", "gpt-4o", 1000, 0, second=3, cost_usd=0.1),       # the client's
                  {**llm("e4", "my-finetune", 10, 0), "timestamp": "2026-01-01T00:00:00Z"}])
    put_price(client, "my-finetune", {"input": 2, "output": 10})
    put_price(client, "gpt-4o", {"input": 5, "output": 20, "valid_from": "2026-02-01T00:00:00Z"})
    runner = app.test_cli_runner()
    before = [read_session(client, "s"), read_json(client, "/analytics")]

    dry = runner.invoke(args=["reprice", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    # my-finetune 1000 x 2 + 100 x 10 = 3000 µ$ and 10 x 2 = 20 µ$, both newly priced;
    # gpt-4o e2 from 2500 to 1000 x 5 = 5000 µ$ (the client's e3 is left alone)
    assert dry.stdout.splitlines() == [
        "Would reprice 3 events (dry run, nothing changed).",
        "  gpt-4o: 1 event, $0.002500 -> $0.005000",
        "  my-finetune: 2 events, $0.000000 -> $0.003020 (2 newly priced)",
    ]
    assert "Pricing events" in dry.stderr
    assert [read_session(client, "s"), read_json(client, "/analytics")] == before

    only = runner.invoke(args=["reprice", "--model", "my-finetune", "--since", "2026-02-01"])
    assert only.exit_code == 0, only.output
    assert only.stdout.splitlines() == [
        "Repriced 1 event.", "  my-finetune: 1 event, $0.000000 -> $0.003000 (1 newly priced)"]
    real = runner.invoke(args=["reprice"])
    assert real.stdout.splitlines() == [
        "Repriced 2 events.", "  gpt-4o: 1 event, $0.002500 -> $0.005000",
        "  my-finetune: 1 event, $0.000000 -> $0.000020 (1 newly priced)"]
    session = read_session(client, "s")
    assert [e["cost_usd"] for e in session["events"]] == [0.00002, None, 0.003, 0.005, 0.1]
    assert (session["total_cost_usd"], session["cost_complete"]) == (0.10802, True)
    analytics = read_json(client, "/analytics")
    assert analytics["overview"]["total_cost_usd"] == 0.10802
    assert analytics["unpriced_models"] == []
    with app.app_context():
        assert recount.check(get_db()) == []
    again = runner.invoke(args=["reprice"])
    assert again.stdout.splitlines() == ["Repriced 0 events."]


def test_reprice_takes_a_price_away_too(app, client):
    put_price(client, "my-finetune", {"input": 2, "output": 10})
    post(client, [START, llm("e1", "my-finetune", 1000, 100)])
    client.delete("/pricing/my-finetune")
    result = app.test_cli_runner().invoke(args=["reprice"])
    assert result.stdout.splitlines() == [
        "Repriced 1 event.", "  my-finetune: 1 event, $0.003000 -> $0.000000 (1 no longer priced)"]
    assert (read_session(client, "s")["total_cost_usd"],
            read_session(client, "s")["cost_complete"]) == (0.0, False)


def test_reprice_refuses_a_bad_date(app):
    result = app.test_cli_runner().invoke(args=["reprice", "--since", "last week"])
    assert result.exit_code == 2
    assert re.search(r"'last week' is not an ISO 8601 date", result.output)
