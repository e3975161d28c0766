"""The OTLP/HTTP routes and the AgentOps 0.4 calls, in process: encodings and content
types, hostile bodies, credentials (keys, issued tokens, key rotation), the log
upload and the rate limit. Errors are the one JSON shape, never a 500."""
import gzip
import hashlib
import json
import uuid
import zlib

import jwt
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest)

from helpers import assert_error, freeze_server_clock, read_json, read_session
from otlp_builder import as_json, export, response_of, span

NOW_MS = 1714910400000
NOW = "2024-05-05T12:00:00.000Z"
TRACE = "0af7651916cd43dd8448eb211c80319c"
ROOT, CHILD, OTHER = "b7ad6b7169203331", "00f067aa0ba902b7", "0102030405060708"
PROTOBUF, JSON = "application/x-protobuf", "application/json"
SECRET = "test-secret-key-for-signing-tokens-0123456789"  # conftest's


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    freeze_server_clock(monkeypatch, NOW_MS)


def body(*spans):
    return export(list(spans) or [span(TRACE, ROOT, "work")]).SerializeToString()


def post(client, data, content_type=PROTOBUF, path="/v1/traces", **headers):
    return client.post(path, data=data, content_type=content_type, headers=headers)


def stored_ids(client, session_id=TRACE):
    return [e["event_id"] for e in read_session(client, session_id)["events"]]


# ---------------------------------------------------------------------------
# Encodings

def test_protobuf_is_answered_in_protobuf(client):
    response = post(client, body())
    assert response.get_data() == b""  # an empty ExportTraceServiceResponse
    assert not response_of(response).HasField("partial_success")
    assert stored_ids(client) == [ROOT]


def test_json_is_answered_in_json(client):
    response = post(client, as_json(export([span(TRACE, ROOT, "work")])), JSON + "; charset=utf-8")
    assert (response.status_code, response.mimetype, response.get_json()) == (200, JSON, {})
    assert stored_ids(client) == [ROOT]


@pytest.mark.parametrize("coding, compress", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress),
    ("identity", lambda data: data), ("GZIP", gzip.compress)])
def test_compressed_bodies(client, coding, compress):
    response = post(client, compress(body(span(TRACE, ROOT, "a"), span(TRACE, CHILD, "b"))),
                    **{"Content-Encoding": coding})
    assert response_of(response).ByteSize() == 0
    assert stored_ids(client) == [ROOT, CHILD]


def test_a_gzip_body_of_several_members(client):
    data = body(span(TRACE, ROOT, "a"), span(TRACE, CHILD, "b"))
    half = len(data) // 2
    post(client, gzip.compress(data[:half]) + gzip.compress(data[half:]),
         **{"Content-Encoding": "gzip"})
    assert stored_ids(client) == [ROOT, CHILD]


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/metrics", "/v1/logs"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_other_content_types_are_415(client, path, content_type):
    error = assert_error(post(client, body(), content_type, path), 415)
    assert error.startswith("Content-Type must be application/x-protobuf or application/json")


def test_other_content_encodings_are_415(client):
    error = assert_error(post(client, body(), **{"Content-Encoding": "br"}), 415)
    assert error == "Content-Encoding must be gzip, deflate or identity, not 'br'"


def length_delimited(number, payload):
    """One protobuf field of wire type 2, written out: a hostile body no library would make."""
    def varint(value):
        out = b""
        while value > 0x7F:
            out += bytes([value & 0x7F | 0x80])
            value >>= 7
        return out + bytes([value])
    return varint(number << 3 | 2) + varint(len(payload)) + payload


@pytest.mark.parametrize("data, content_type, start", [
    (b"\xff\xff\xff", PROTOBUF, "Request body is not a protobuf ExportTraceServiceRequest"),
    (b"{", JSON, "Request body is not valid JSON"),
    (b"", JSON, "Request body is not valid JSON"),
    (b"[]", JSON, "Request body must be a JSON object"),
    (b'{"resourceSpans": 5}', JSON, "Request body is not an OTLP/JSON ExportTraceServiceRequest"),
    (b'{"resourceSpans": [{"scopeSpans": [5]}]}', JSON,
     "Request body is not an OTLP/JSON ExportTraceServiceRequest"),
    (b'{"resourceSpans":' * 300 + b"[]" + b"}" * 300, JSON, "Request body is not"),
    (length_delimited(1, b"\x0a\x05"), PROTOBUF,
     "Request body is not a protobuf ExportTraceServiceRequest"),
])
def test_undecodable_bodies_are_400(client, data, content_type, start):
    assert assert_error(post(client, data, content_type), 400).startswith(start)


def test_a_truncated_or_corrupt_gzip_body_is_400(client):
    data = gzip.compress(body())
    for broken in (data[:-12], b"\x1f\x8b" + b"\x00" * 20):
        error = assert_error(post(client, broken, **{"Content-Encoding": "gzip"}), 400)
        assert error.startswith("Request body could not be decompressed (gzip)")


def test_bodies_over_the_cap_before_or_after_decompression_are_413(make_app):
    client = make_app(MAX_CONTENT_LENGTH=64 * 1024).test_client()
    assert_error(post(client, b"\x00" * (64 * 1024 + 1)), 413)
    bomb = gzip.compress(b"\x00" * (16 * 1024 * 1024))  # 16 KiB that inflates to 16 MiB
    assert len(bomb) < 64 * 1024
    error = assert_error(post(client, bomb, **{"Content-Encoding": "gzip"}), 413)
    assert error == "Request body is larger than 65536 bytes once decompressed"
    under = body(span(TRACE, ROOT, "big", attrs={"blob": "x" * 60_000}))
    assert len(under) < 64 * 1024 < len(under) * 2
    assert post(client, zlib.compress(under), **{"Content-Encoding": "deflate"}).status_code == 200
    assert stored_ids(client) == [ROOT]


def nested_past_the_decoders_limit():
    """A span (TRACE, CHILD) with an attribute 300 kvlists deep: protobuf's decoder stops at 100."""
    value = length_delimited(1, b"x")  # AnyValue.string_value
    for _ in range(300):  # AnyValue.kvlist_value.values[0] = KeyValue(key="k", value=...)
        value = length_delimited(6, length_delimited(1, length_delimited(1, b"k")
                                                     + length_delimited(2, value)))
    return (length_delimited(1, bytes.fromhex(TRACE)) + length_delimited(2, bytes.fromhex(CHILD))
            + length_delimited(9, length_delimited(1, b"deep") + length_delimited(2, value)))


def with_good_span(bad_span):
    """An export of one scope: a good span (TRACE, ROOT), then ``bad_span`` (its bytes)."""
    good = span(TRACE, ROOT, "good").SerializeToString()
    scope_spans = length_delimited(2, good) + length_delimited(2, bad_span)
    return length_delimited(1, length_delimited(2, scope_spans))


def json_with_good_span(bad_span):
    data = json.loads(as_json(export([span(TRACE, ROOT, "good")])))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"].append(bad_span)
    return json.dumps(data).encode()


NOT_UTF8 = (length_delimited(1, bytes.fromhex(TRACE)) + length_delimited(2, bytes.fromhex(CHILD))
            + length_delimited(5, b"\xff\xfe name"))


def partial_success(response, content_type):
    """``(rejected spans, message)`` of an answer in either encoding."""
    assert response.status_code == 200, response.get_data(as_text=True)
    if content_type == PROTOBUF:
        partial = response_of(response).partial_success
        return partial.rejected_spans, partial.error_message
    partial = response.get_json()["partialSuccess"]
    return int(partial["rejectedSpans"]), partial["errorMessage"]


BAD_IN_JSON = {"traceId": TRACE, "spanId": CHILD}
NAMED = f"span {CHILD} of trace {TRACE}: the span does not decode: "


@pytest.mark.parametrize("data, content_type, start, problem", [
    (with_good_span(nested_past_the_decoders_limit()), PROTOBUF, NAMED, "Exceeded"),
    (with_good_span(NOT_UTF8), PROTOBUF, NAMED, "UTF-8"),
    (with_good_span(NOT_UTF8[:-3]), PROTOBUF, "span (no id) of trace (no id): the span does "
     "not decode: ", "Error parsing"),  # cut short: not even its ids read
    (json_with_good_span({**BAD_IN_JSON, "startTimeUnixNano": "-1"}), JSON, NAMED,
     "startTimeUnixNano"),
    (json_with_good_span({**BAD_IN_JSON, "name": 5}), JSON, NAMED, "name"),
    (json_with_good_span({**BAD_IN_JSON, "attributes": [
        {"key": "big", "value": {"intValue": "9223372036854775808"}}]}), JSON, NAMED, "intValue"),
    # json.dumps writes the lone surrogate as the escape \ud800, as a client would
    (json_with_good_span({**BAD_IN_JSON, "attributes": [
        {"key": "s", "value": {"stringValue": "\ud800"}}]}), JSON, NAMED, "surrogate"),
    (json_with_good_span(7), JSON, "span (no id) of trace (no id): the span does not decode: ",
     "not iterable"),
])
def test_a_span_that_does_not_decode_is_refused_alone(client, data, content_type, start,
                                                      problem):
    rejected, message = partial_success(post(client, data, content_type), content_type)
    assert rejected == 1
    assert message.startswith(f"1 of 2 spans rejected; the first: {start}")
    assert problem in message
    assert stored_ids(client) == [ROOT]


def test_spans_under_a_resource_that_does_not_decode_are_refused(client):
    bad_resource = length_delimited(1, length_delimited(1, b"\xff") + length_delimited(
        2, length_delimited(1, b"x")))  # Resource.attributes[0].key: not UTF-8
    good = export([span(TRACE, CHILD, "good")]).SerializeToString()
    bad = length_delimited(1, length_delimited(1, bad_resource) + length_delimited(2, length_delimited(
        2, span(TRACE, ROOT, "under a bad resource").SerializeToString())))
    rejected, message = partial_success(post(client, good + bad), PROTOBUF)
    assert rejected == 1
    assert message.startswith(f"1 of 2 spans rejected; the first: span {ROOT} of trace {TRACE}: "
                              "its resource does not decode: ")
    assert stored_ids(client) == [CHILD]


def test_spans_under_a_json_scope_that_does_not_decode_are_refused(client):
    data = json.loads(as_json(export([span(TRACE, CHILD, "good")])))
    data["resourceSpans"].append({"scopeSpans": [{"scope": {"name": 5}, "spans": json.loads(
        as_json(export([span(TRACE, ROOT, "under a bad scope")])))["resourceSpans"][0][
            "scopeSpans"][0]["spans"]}]})
    data["resourceSpans"][0]["scopeSpans"][0]["spans"].append(
        {"traceId": "zz", "spanId": OTHER, "name": 5})  # both problems: the id's is told
    rejected, message = partial_success(post(client, json.dumps(data), JSON), JSON)
    assert rejected == 2
    assert message.startswith(f"2 of 3 spans rejected; the first: span {OTHER} of trace "
                              "(no id): traceId: not a hex id: 'zz'")
    assert stored_ids(client) == [CHILD]


def test_a_resource_given_twice_is_merged_also_when_a_span_does_not_decode(client):
    resource = {"service.name": "svc"}
    good = span(TRACE, ROOT, "good").SerializeToString()
    first = length_delimited(1, export([], {"service.name": "svc"}).resource_spans[0]
                             .resource.SerializeToString())
    second = length_delimited(1, b"\x10\x03")  # Resource.dropped_attributes_count = 3
    body = length_delimited(1, first + second + length_delimited(
        2, length_delimited(2, good) + length_delimited(2, NOT_UTF8)))
    assert partial_success(post(client, body), PROTOBUF)[0] == 1
    [stored] = read_session(client, TRACE)["events"]
    assert stored["metadata"]["resource"] == resource


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_an_export_of_more_than_100000_spans_is_refused(client, content_type):
    def export_of(count):  # one span, then empty ones: the smallest body of so many spans
        if content_type == PROTOBUF:
            return body() + length_delimited(1, length_delimited(2, length_delimited(
                2, b"") * (count - 1)))
        data = json.loads(as_json(export([span(TRACE, ROOT, "work")])))
        data["resourceSpans"][0]["scopeSpans"][0]["spans"] += [{}] * (count - 1)
        return json.dumps(data)
    error = assert_error(post(client, export_of(100_001), content_type), 400)
    assert error == "Request body has 100001 spans, more than the 100000 an export may have"
    rejected, message = partial_success(post(client, export_of(100_000), content_type),
                                        content_type)
    assert rejected == 99_999  # the empty ones, for their ids
    assert stored_ids(client) == [ROOT]


def test_metrics_are_accepted_and_discarded(client):
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.add(name="tokens")
    response = post(client, gzip.compress(request.SerializeToString()), path="/v1/metrics",
                    **{"Content-Encoding": "gzip"})
    assert (response.status_code, response.mimetype, response.get_data()) == (200, PROTOBUF, b"")
    response = post(client, '{"resourceMetrics": []}', JSON, "/v1/metrics")
    assert (response.status_code, response.get_json()) == (200, {})
    assert read_json(client, "/sessions")["total"] == 0


def test_logs_are_accepted_and_discarded(client):
    """OpenLIT exports its GenAI events as logs (their content is on its spans too)."""
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add(
        event_name="gen_ai.client.inference.operation.details",
        trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(ROOT))
    record.body.string_value = "hello"
    response = post(client, request.SerializeToString(), path="/v1/logs")
    assert (response.status_code, response.mimetype, response.get_data()) == (200, PROTOBUF, b"")
    response = post(client, json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": TRACE, "spanId": ROOT, "body": {"stringValue": "hello"}}]}]}]}), JSON,
        "/v1/logs")
    assert (response.status_code, response.get_json()) == (200, {})
    assert assert_error(post(client, b"\xff\xff", PROTOBUF, "/v1/logs"), 400).startswith(
        "Request body is not a protobuf ExportLogsServiceRequest: ")
    assert read_json(client, "/sessions")["total"] == 0


@pytest.mark.parametrize("content_type, data, error", [
    (PROTOBUF, b"\xff\xff", "Request body is not a protobuf ExportMetricsServiceRequest: "),
    (JSON, "{", "Request body is not valid JSON: "),
    (JSON, "[]", "Request body must be a JSON object (an ExportMetricsServiceRequest)"),
    (JSON, '{"resourceMetrics": 5}', "Request body is not an OTLP/JSON ExportMetricsServiceRequest: ")])
def test_metrics_that_do_not_decode_are_a_400(client, content_type, data, error):
    """OTLP: data that cannot be decoded is answered 400 Bad Request (not retried)."""
    assert assert_error(post(client, data, content_type, "/v1/metrics"), 400).startswith(error)


# ---------------------------------------------------------------------------
# Credentials

@pytest.fixture
def keyed(make_app, tmp_path):
    """An app with keys k1 and k2, and a way to restart it with other keys on the same data."""
    database = str(tmp_path / "keyed.sqlite3")

    def with_keys(*keys, **config):
        return make_app(DATABASE=database, API_KEYS=list(keys), **config).test_client()

    return with_keys


def token_for(client, key):
    response = client.post("/v3/auth/token", json={"api_key": key})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_token_answer(keyed):
    client = keyed("k1", "k2")
    first, again, other = token_for(client, "k1"), token_for(client, "k1"), token_for(client, "k2")
    assert set(first) == {"token", "project_id", "project_prem_status"}
    assert first["project_prem_status"] == "pro"  # else the SDK prints an upgrade notice
    assert uuid.UUID(first["project_id"]) and first["project_id"] == again["project_id"]
    assert other["project_id"] != first["project_id"]
    assert "k1" not in first["project_id"] + jwt.decode(first["token"], options={
        "verify_signature": False})["project_id"]


@pytest.mark.parametrize("payload, status, error", [
    ({"api_key": "nope"}, 401, "Invalid API key"),
    ({}, 401, "Missing API key: send it as api_key in the body"),
    ({"api_key": ""}, 401, "Missing API key: send it as api_key in the body"),
    ({"api_key": 5}, 400, "api_key: Not a valid string."),
    ([], 400, "body: Must be a JSON object."),
])
def test_the_token_refusals(keyed, payload, status, error):
    assert assert_error(keyed("k1").post("/v3/auth/token", json=payload), status) == error


def test_a_token_in_dev_mode_for_any_key(client):
    assert set(token_for(client, "anything")) == {"token", "project_id", "project_prem_status"}


@pytest.mark.parametrize("path, content_type, data", [
    ("/v1/traces", PROTOBUF, body()), ("/v1/metrics", PROTOBUF, b""),
    ("/v4/logs/upload/", JSON, '{"body": "hello"}')])
def test_every_credential_that_works(keyed, path, content_type, data):
    client = keyed("k1", "k2")
    token = token_for(client, "k2")["token"]
    for headers in ({"X-API-Key": "k2"}, {"Authorization": "Bearer k1"},
                    {"Authorization": f"bearer {token}"}):
        response = post(client, data, content_type, path, **headers, **{"Trace-Id": "7"})
        assert response.status_code == 200, (headers, response.get_data(as_text=True))


def test_credentials_that_do_not_work(keyed):
    client = keyed("k1", "k2")
    token = token_for(client, "k1")["token"]
    session_jwt = client.post("/v2/create_session", json={"session": {"session_id": "s1"}},
                              headers={"X-Agentops-Api-Key": "k1"}).get_json()["jwt"]
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-key-0123456789-0123456789", algorithm="HS256")
    for headers, error in [
            ({}, "Missing API key: send X-API-Key, or Authorization: Bearer <API key or token "
                 "from /v3/auth/token>"),
            ({"Authorization": "Basic k1"}, "Missing API key: send X-API-Key, or Authorization: "
                                            "Bearer <API key or token from /v3/auth/token>"),
            ({"X-API-Key": "nope", "Authorization": "Bearer k1"}, "Invalid API key"),
            ({"Authorization": "Bearer nope"}, "Invalid API key or token"),
            ({"Authorization": f"Bearer {forged}"}, "Invalid API key or token"),
            ({"Authorization": f"Bearer {session_jwt}"}, "Invalid API key or token")]:
        assert assert_error(post(client, body(), **headers), 401) == error, headers
    # ... and the token is no session JWT either.
    response = client.post("/v2/create_events", json={"events": [{"type": "action"}]},
                           headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)


def test_a_token_stops_working_when_the_keys_change(keyed):
    token = token_for(keyed("k1", "k2"), "k1")["token"]
    assert post(keyed("k2", "k1"), body(), Authorization=f"Bearer {token}").status_code == 200
    rotated = keyed("k1", "k3")
    error = assert_error(post(rotated, body(), Authorization=f"Bearer {token}"), 401)
    assert error == "Token issued under other API keys: get a new one from /v3/auth/token"
    fresh = token_for(rotated, "k1")["token"]
    assert post(rotated, body(), Authorization=f"Bearer {fresh}").status_code == 200


def test_an_expired_token(keyed):
    token = token_for(keyed("k1", JWT_LIFETIME_SECONDS=-10), "k1")["token"]
    error = assert_error(post(keyed("k1"), body(), Authorization=f"Bearer {token}"), 401)
    assert error == "Token expired: get a new one from /v3/auth/token"


def test_dev_mode_takes_any_credential(client):
    assert post(client, body(), Authorization="Bearer whatever").status_code == 200


def test_the_sdk_routes_limit_applies(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SDK="2/minute").test_client()
    assert [post(client, body()).status_code for _ in range(2)] == [200, 200]
    limited = post(client, body())
    assert assert_error(limited, 429).startswith("Rate limit exceeded")
    assert int(limited.headers["Retry-After"]) > 0


# ---------------------------------------------------------------------------
# AgentOps' log upload

LOG = "2024-05-05 11:59:59,000 - INFO - planning haiku\n"
LOG_ID = "log:" + hashlib.sha256(LOG.encode()).hexdigest()[:32]


def upload(client, trace_header, payload):
    return client.post("/v4/logs/upload/", json=payload, headers={"Trace-Id": trace_header})


def test_a_log_is_an_event_of_its_trace_and_moves_with_it(client):
    response = upload(client, str(int(TRACE, 16)), {"body": LOG})
    assert response.get_json() == {"trace_id": TRACE, "event_id": LOG_ID}
    [log] = read_session(client, TRACE)["events"]
    assert log == {"event_id": LOG_ID, "session_id": TRACE, "event_type": "log", "timestamp": NOW,
                   "parent_id": None, "trace_id": TRACE, "model": None, "provider": None,
                   "tokens_in": None,
                   "tokens_out": None, "cache_read_tokens": None, "cache_write_tokens": None,
                   "reasoning_tokens": None, "cost_usd": None, "duration_ms": None,
                   "input_data": None, "output_data": {"text": LOG},
                   "tool_call": None, "decision_trace": None, "metadata": None}
    assert upload(client, str(int(TRACE, 16)), {"body": LOG}).status_code == 200  # a retry
    post(client, body(span(TRACE, ROOT, "run.session", attrs={"session.id": "named"})))
    assert stored_ids(client, "named") == [ROOT, LOG_ID]
    assert client.get(f"/sessions/{TRACE}").status_code == 404


@pytest.mark.parametrize("trace_header, payload, error", [
    (None, {"body": LOG}, "Trace-Id: required header (the trace id, in decimal)"),
    ("", {"body": LOG}, "Trace-Id: required header (the trace id, in decimal)"),
    (TRACE, {"body": LOG}, f"Trace-Id: not a trace id in decimal: '{TRACE}'"),
    ("0", {"body": LOG}, "Trace-Id: not a trace id in decimal: '0'"),
    (str(2**128), {"body": LOG}, f"Trace-Id: not a trace id in decimal: '{2**128}'"),
    ("9" * 5000, {"body": LOG}, f"Trace-Id: not a trace id in decimal: '{'9' * 64}'"),
    ("7", {}, "body: Missing data for required field."),
    ("7", {"body": ""}, "body: Shorter than minimum length 1."),
    ("7", {"body": ["x"]}, "body: Not a valid string."),
])
def test_log_upload_refusals(client, trace_header, payload, error):
    headers = {} if trace_header is None else {"Trace-Id": trace_header}
    response = client.post("/v4/logs/upload/", json=payload, headers=headers)
    assert assert_error(response, 400) == error


def test_spans_are_counted_in_the_metrics(client):
    """Under the format "otlp": spans and logs stored, sent again, refused."""
    def figures():
        text = client.get("/metrics").get_data(as_text=True)
        return {kind: value for line in text.splitlines()
                for kind in ("stored", "duplicate", "rejected")
                if line.startswith(f'agentlens_events_{kind}_total{{format="otlp"}}')
                for value in [float(line.split()[-1])]}

    before = figures()
    bad = span(TRACE, CHILD, "bad")
    bad.span_id = b"\x01"
    post(client, body(span(TRACE, ROOT, "a"), bad))
    post(client, body(span(TRACE, ROOT, "a")))
    upload(client, "7", {"body": LOG})
    after = figures()  # the counters are the process's: they move by what this test did
    assert {kind: after[kind] - before[kind] for kind in after} == {
        "stored": 2, "duplicate": 1, "rejected": 1}
