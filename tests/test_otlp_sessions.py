"""OTLP exactness, in process: the session of a trace whatever the order its spans
arrive in, retries that move nothing, refused spans reported one by one, and the
OTLP/JSON encoding read like protobuf. Figures are read back by value through
GET /sessions, /sessions/<id>, /analytics and POST /sessions/compare.
"""
import json

import pytest

from helpers import freeze_server_clock, read_json, read_session
from otlp_builder import as_json, as_json_dict, export, response_of, span

NOW_MS = 1714910400000
TRACE, TRACE_2 = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, CHILD, GRANDCHILD = "b7ad6b7169203331", "00f067aa0ba902b7", "a1b2c3d4e5f60718"


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    freeze_server_clock(monkeypatch, NOW_MS)


def post(client, spans, resource=None):
    """Post spans as protobuf; returns the ExportTraceServiceResponse."""
    return response_of(client.post("/v1/traces", data=export(spans, resource).SerializeToString(),
                                   content_type="application/x-protobuf"))


def llm(trace, span_id, parent, tokens_in, tokens_out, at, **attrs):
    return span(trace, span_id, "chat", parent=parent, start_ms=at, attrs={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": tokens_out, **attrs})


def agent_trace(trace=TRACE, session_id="conv-1", name="planner"):
    """A root that names the session and its agent, a child LLM call and a grandchild one."""
    return [span(trace, ROOT, "invoke_agent", duration_ms=500, attrs={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name,
                "session.id": session_id}),
            llm(trace, CHILD, ROOT, 100, 20, at=10),
            llm(trace, GRANDCHILD, CHILD, 7, 3, at=20)]


def figures(client):
    """Everything a reader sees of the database."""
    listed = read_json(client, "/sessions")
    return {"sessions": listed,
            "details": {s["session_id"]: read_session(client, s["session_id"])
                        for s in listed["sessions"]},
            "analytics": read_json(client, "/analytics")}


def test_children_first_and_the_root_last_make_the_same_session(make_app):
    together, split = make_app().test_client(), make_app().test_client()
    post(together, agent_trace())
    root, child, grandchild = agent_trace()
    post(split, [grandchild])
    assert read_session(split, TRACE)["total_tokens_in"] == 7  # filed under the trace for now
    post(split, [child])
    post(split, [root])
    assert split.get(f"/sessions/{TRACE}").status_code == 404
    assert figures(split) == figures(together)
    found = read_session(split, "conv-1")
    assert (found["agent_name"], found["total_tokens_in"], found["total_tokens_out"]) == (
        "planner", 107, 23)
    # gpt-4o at $2.50 / $10 per million tokens: 107 x 2.5 + 23 x 10 = 497.5 µ$
    assert (found["total_cost_usd"], found["cost_complete"]) == (0.000498, True)
    assert [(e["event_id"], e["parent_id"]) for e in found["events"]] == [
        (ROOT, None), (CHILD, ROOT), (GRANDCHILD, CHILD)]
    overview = read_json(split, "/analytics")["overview"]
    assert (overview["total_sessions"], overview["total_events"]) == (1, 3)


def test_a_retried_export_moves_nothing(client):
    first = post(client, agent_trace())
    before = figures(client)
    again = post(client, agent_trace())
    assert not first.HasField("partial_success") and not again.HasField("partial_success")
    assert figures(client) == before


def test_the_roots_claim_wins_over_a_childs_whatever_the_order(make_app):
    def with_claims(root_claim, child_claim):
        root, child, grandchild = agent_trace()
        root.attributes[2].value.string_value = root_claim  # session.id
        child.attributes.add(key="gen_ai.conversation.id").value.string_value = child_claim
        return root, child, grandchild

    for order in ((0, 1, 2), (2, 1, 0), (1, 0, 2)):
        client = make_app().test_client()
        spans = with_claims("root-session", "a-child-session")
        for index in order:
            post(client, [spans[index]])
        listed = read_json(client, "/sessions")["sessions"]
        assert [s["session_id"] for s in listed] == ["root-session"], order
        assert read_session(client, "root-session")["total_tokens_in"] == 107


def test_without_a_root_claim_the_smaller_session_id_wins(client):
    root, child, grandchild = agent_trace()
    del root.attributes[2]  # no session.id on the root
    child.attributes.add(key="session.id").value.string_value = "b-session"
    grandchild.attributes.add(key="gen_ai.conversation.id").value.string_value = "a-session"
    post(client, [child])
    post(client, [root, grandchild])
    assert [s["session_id"] for s in read_json(client, "/sessions")["sessions"]] == ["a-session"]


def test_two_traces_of_one_session_may_reuse_a_span_id(client):
    post(client, agent_trace(TRACE) + agent_trace(TRACE_2))
    found = read_session(client, "conv-1")
    assert len(found["events"]) == 6
    assert (found["total_tokens_in"], found["total_tokens_out"]) == (214, 46)
    compared = client.post("/sessions/compare", json={"session_a": "conv-1", "session_b": "conv-1"})
    assert compared.get_json()["session_a"]["event_count"] == 6


def test_refused_spans_are_counted_and_the_first_is_named(client):
    bad_parent = span(TRACE, "1111111111111111", "bad parent")
    bad_parent.parent_span_id = b"\x01" * 9
    short_id = span(TRACE, CHILD, "short id")
    short_id.span_id = b"\x01\x02"
    zero_trace = span(TRACE, GRANDCHILD, "zero trace")
    zero_trace.trace_id = bytes(16)
    response = post(client, [llm(TRACE, ROOT, None, 5, 1, at=0), short_id, bad_parent, zero_trace])
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == (
        f"3 of 4 spans rejected; the first: span 0102 of trace {TRACE}: "
        "spanId: must be 8 bytes, not all zero")
    found = read_session(client, TRACE)
    assert [e["event_id"] for e in found["events"]] == [ROOT]
    assert found["total_tokens_in"] == 5


@pytest.mark.parametrize("change, problem", [
    (lambda s: setattr(s, "trace_id", b"\x01" * 15), "traceId: must be 16 bytes, not all zero"),
    (lambda s: setattr(s, "span_id", bytes(8)), "spanId: must be 8 bytes, not all zero"),
    (lambda s: setattr(s, "parent_span_id", b"\x01" * 9), "parentSpanId: must be empty or 8 bytes"),
    (lambda s: setattr(s, "end_time_unix_nano", s.start_time_unix_nano + 10**18),
     "duration_ms: more than 1000000000 ms"),
    (lambda s: s.attributes.add(key="session.id").value.__setattr__("string_value", "s" * 2**20 + "s"),
     "session_id: larger than the 1048576-byte field limit"),
])
def test_each_problem_refuses_its_span_alone(client, change, problem):
    bad = span(TRACE, CHILD, "bad")
    change(bad)
    response = post(client, [bad, llm(TRACE_2, ROOT, None, 1, 1, at=0)])
    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message.endswith(problem)
    assert [s["session_id"] for s in read_json(client, "/sessions")["sessions"]] == [TRACE_2]


HALF = "x" * (2**20 // 2)
OVER_CAP = ("metadata: the session's merged metadata would be larger than the 1048576-byte "
            "field limit")


def tagged(trace, span_id, tags, session_id="tagged", parent=None, at=0):
    return span(trace, span_id, "run.session", parent=parent, start_ms=at, attrs={
        "agentops.span.kind": "session", "agentops.tags": tags,
        **({"session.id": session_id} if session_id else {})})


def test_tags_that_would_grow_the_sessions_metadata_past_the_cap_refuse_their_span_alone(client):
    """Each span's tags fit, but merged key by key with what the session has they would
    not: that span is refused (with its name and its claim), not the request."""
    assert post(client, [tagged(TRACE, ROOT, {"a": HALF})]).partial_success.rejected_spans == 0
    # The child first: it started later, so the sort puts the refused root before it.
    response = post(client, [llm(TRACE_2, CHILD, ROOT, 3, 2, at=1),
                             tagged(TRACE_2, ROOT, {"b": HALF}),
                             llm(GRANDCHILD * 2, CHILD, None, 5, 1, at=0, **{"session.id": "other"})])
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (
        1, f"1 of 3 spans rejected; the first: span {ROOT} of trace {TRACE_2}: {OVER_CAP}")
    found = read_session(client, "tagged")
    assert found["metadata"] == {"tags": {"a": HALF}}
    assert [e["event_id"] for e in found["events"]] == [ROOT]
    # The refused root's claim went with it: its trace's child stays under the trace id.
    assert [e["event_id"] for e in read_session(client, TRACE_2)["events"]] == [CHILD]
    assert read_session(client, "other")["total_tokens_in"] == 5


def test_only_the_tags_that_do_not_fit_are_refused(client):
    """A span whose tags fit is kept, even when it comes after one whose tags do not."""
    post(client, [tagged(TRACE, ROOT, {"a": HALF})])
    response = post(client, [tagged(TRACE_2, ROOT, {"b": HALF}, at=1),
                             tagged(GRANDCHILD * 2, ROOT, {"c": 1}, at=2),
                             tagged(CHILD * 2, ROOT, {"d": HALF}, at=3),
                             tagged(CHILD * 2, CHILD, {"e": 2}, parent=ROOT, at=4)])
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message.startswith(
        f"2 of 4 spans rejected; the first: span {ROOT} of trace {TRACE_2}: {OVER_CAP}")
    found = read_session(client, "tagged")
    assert found["metadata"] == {"tags": {"a": HALF, "c": 1, "e": 2}}
    assert sorted(e["event_id"] for e in found["events"]) == sorted([ROOT, ROOT, CHILD])


def test_a_claim_that_would_move_tags_past_the_cap_refuses_its_span_alone(client):
    """A trace filed under its id, with tags, then claimed by a session whose tags leave
    no room for them: the claiming span is refused, and the trace stays where it was."""
    post(client, [tagged(TRACE, CHILD, {"a": HALF}, session_id=None, parent=ROOT)])
    post(client, [tagged(TRACE_2, ROOT, {"b": HALF})])
    response = post(client, [llm(TRACE, ROOT, None, 1, 1, at=0, **{"session.id": "tagged"}),
                             llm(GRANDCHILD * 2, CHILD, None, 5, 1, at=0, **{"session.id": "other"})])
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (
        1, f"1 of 2 spans rejected; the first: span {ROOT} of trace {TRACE}: {OVER_CAP}")
    assert read_session(client, TRACE)["metadata"] == {"tags": {"a": HALF}}
    found = read_session(client, "tagged")
    assert (found["metadata"], [e["event_id"] for e in found["events"]]) == (
        {"tags": {"b": HALF}}, [ROOT])
    assert read_session(client, "other")["total_tokens_in"] == 5


def test_every_span_claiming_a_move_that_does_not_fit_is_refused_at_once(client, monkeypatch):
    """All the spans of a trace name its session (OpenInference, traceloop): when the
    move does not fit, each of them is refused, in one more transaction, not one each."""
    from agentlens.ingest import store
    post(client, [tagged(TRACE, CHILD, {"a": HALF}, session_id=None, parent=ROOT)])
    post(client, [tagged(TRACE_2, ROOT, {"b": HALF})])
    runs, original = [], store.Change.store

    def counted(change, *args):
        runs.append(args)
        return original(change, *args)
    monkeypatch.setattr(store.Change, "store", counted)
    response = post(client, [llm(TRACE, ROOT, None, 1, 1, at=0, **{"session.id": "tagged"}),
                             *[llm(TRACE, f"{n:016x}", ROOT, 1, 1, at=n, **{"session.id": "tagged"})
                               for n in range(1, 6)],
                             llm(GRANDCHILD * 2, CHILD, None, 5, 1, at=0, **{"session.id": "other"})])
    assert response.partial_success.rejected_spans == 6
    assert len(runs) == 2
    assert read_session(client, "other")["total_tokens_in"] == 5
    assert [e["event_id"] for e in read_session(client, TRACE)["events"]] == [CHILD]


# ---------------------------------------------------------------------------
# OTLP/JSON

# What an OpenTelemetry Collector's otlphttp exporter sends with encoding: json:
# ids in hex, enum values as numbers, 64-bit integers as strings.
COLLECTOR_JSON = """{"resourceSpans":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"checkout"}}]},
 "scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},"spans":[
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
   "parentSpanId":"eee19b7ec3c1b173","name":"chat gpt-4o","kind":3,
   "startTimeUnixNano":"1714910000000000000","endTimeUnixNano":"1714910001250000000",
   "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
     {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
     {"key":"gen_ai.usage.input_tokens","value":{"intValue":"321"}},
     {"key":"gen_ai.usage.output_tokens","value":{"intValue":45}},
     {"key":"gen_ai.conversation.id","value":{"stringValue":"cart-9"}},
     {"key":"gen_ai.request.temperature","value":{"doubleValue":0.5}}],
   "events":[{"timeUnixNano":"1714910000500000000","name":"first_token",
     "attributes":[{"key":"ok","value":{"boolValue":true}}]}],
   "status":{"code":2,"message":"upstream failed"}}]}]}]}"""


def post_json(client, text, **headers):
    return client.post("/v1/traces", data=text, content_type="application/json", headers=headers)


def test_a_collectors_json_body(client):
    response = post_json(client, COLLECTOR_JSON)
    assert (response.status_code, response.mimetype, response.get_json()) == (
        200, "application/json", {})
    [found] = read_session(client, "cart-9")["events"]
    assert found == {
        "event_id": "eee19b7ec3c1b174", "session_id": "cart-9", "event_type": "llm_call_error",
        "timestamp": "2024-05-05T11:53:20.000Z", "parent_id": "eee19b7ec3c1b173",
        "trace_id": "5b8efff798038103d269b633813fc60c", "model": "gpt-4o", "provider": None, "tokens_in": 321, "tokens_out": 45,
        "cache_read_tokens": None, "cache_write_tokens": None, "reasoning_tokens": None,
        # gpt-4o at $2.50 / $10 per million tokens: 802.5 + 450 = 1252.5 µ$
        "cost_usd": 0.001253, "duration_ms": 1250.0,
        "input_data": None, "output_data": {"error": "upstream failed"}, "tool_call": None,
        "decision_trace": None, "metadata": {
            "span_name": "chat gpt-4o", "span_kind": "client",
            "attributes": {"gen_ai.request.temperature": 0.5},
            "events": [{"name": "first_token", "time": "2024-05-05T11:53:20.500Z",
                        "attributes": {"ok": True}}],
            "resource": {"service.name": "checkout"},
            "scope": {"name": "my.library", "version": "1.0.0"}}}


def test_json_with_enum_names_snake_case_fields_and_number_integers(client):
    text = (COLLECTOR_JSON.replace('"kind":3', '"kind":"SPAN_KIND_CLIENT"')
            .replace('"code":2', '"code":"STATUS_CODE_ERROR"')
            .replace('"intValue":"321"', '"intValue":321')
            .replace('"startTimeUnixNano":"1714910000000000000"',
                     '"start_time_unix_nano":1714910000000000000')
            .replace('"parentSpanId"', '"parent_span_id"')
            .replace('"resourceSpans"', '"resource_spans"'))
    assert post_json(client, text).get_json() == {}
    [found] = read_session(client, "cart-9")["events"]
    assert (found["event_type"], found["tokens_in"], found["parent_id"], found["timestamp"]) == (
        "llm_call_error", 321, "eee19b7ec3c1b173", "2024-05-05T11:53:20.000Z")
    assert found["metadata"]["span_kind"] == "client"


def test_json_and_protobuf_store_the_same(make_app):
    as_protobuf, as_text = make_app().test_client(), make_app().test_client()
    post(as_protobuf, agent_trace(), resource={"service.name": "svc"})
    text = as_json(export(agent_trace(), {"service.name": "svc"}))
    assert post_json(as_text, text).get_json() == {}
    assert figures(as_text) == figures(as_protobuf)


def test_a_json_span_whose_id_is_not_hex_is_refused_alone(client):
    data = as_json_dict(export([llm(TRACE, ROOT, None, 1, 1, at=0),
                                llm(TRACE, CHILD, None, 2, 2, at=1)]))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"] = "not-hex!"
    response = post_json(client, json.dumps(data))
    assert response.get_json() == {"partialSuccess": {
        "rejectedSpans": "1",
        "errorMessage": f"1 of 2 spans rejected; the first: span (no id) of trace {TRACE}: "
                        "spanId: not a hex id: 'not-hex!'"}}
    assert [e["event_id"] for e in read_session(client, TRACE)["events"]] == [ROOT]


def test_a_json_link_whose_id_is_not_hex_is_named_in_the_refusal(client):
    data = as_json_dict(export([llm(TRACE, ROOT, None, 1, 1, at=0)]))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["links"] = [
        {"traceId": TRACE, "spanId": CHILD}, {"traceId": "zz", "spanId": CHILD}]
    response = post_json(client, json.dumps(data))
    assert response.get_json()["partialSuccess"]["errorMessage"] == (
        f"1 of 1 spans rejected; the first: span {ROOT} of trace {TRACE}: "
        "links[1].traceId: not a hex id: 'zz'")
