"""Contract tests for GET /sessions/<id>/export (JSON and CSV).

Contract: /work/shared/spec/agentlens-rest-api.txt plus DECISIONS.md (DECISIONS wins).
Every expected value is written out by hand from the events the test sends;
nothing is computed by the code under test.
"""
import csv
import io
import json
import re
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from helpers import assert_error
from hypothesis import given, strategies as st

from agentlens.read.export import csv_line, csv_pieces

# The API's thirteen, in its order, then the cost.
CSV_COLUMNS = [
    "event_id", "event_type", "timestamp", "model", "tokens_in", "tokens_out", "duration_ms",
    "input_data", "output_data", "tool_name", "tool_input", "tool_output", "reasoning",
    "cost_usd",
]
# The reference's export event fields.
EVENT_KEYS = (
    "event_id", "event_type", "timestamp", "model", "tokens_in", "tokens_out", "duration_ms",
    "input_data", "output_data", "tool_call", "decision_trace",
)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def post_events(client, events):
    response = client.post("/events", json={"events": events})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "rejected" not in response.get_json(), response.get_json()


def export(client, session_id, fmt=None):
    url = f"/sessions/{quote(session_id, safe='')}/export"
    if fmt is not None:
        url += f"?format={fmt}"
    return client.get(url)


def csv_rows(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    return list(csv.reader(io.StringIO(text, newline="")))


S = "exp-1"
EXOTIC = {"n": 9007199254740993, "f": 0.1, "big": 1e300, "neg": -0.0,
          "u": "h\u00e9llo \u2603 \U0001F600", "nested": {"a": [1, {"b": None}], "t": True},
          "empty": {}, "list": []}
META = {"version": "2.0", "nested": {"k": [1, 2]}}

EVENTS = [
    {"event_type": "session_start", "session_id": S, "agent_name": "exporter",
     "metadata": META, "timestamp": "2025-04-01T09:00:00Z"},
    {"event_type": "llm_call", "session_id": S, "event_id": "e1",
     "timestamp": "2025-04-01T10:30:05+01:30",  # 09:00:05Z
     "model": "zeta-model", "tokens_in": 50, "tokens_out": 30, "duration_ms": 150.25,
     "input_data": {"prompt": "Hello, \"world\"\nline2"}, "output_data": {"response": "Hi"},
     "decision_trace": {"reasoning": "Because, \"quoted\"\nand newline"}},
    {"event_type": "tool_call", "session_id": S, "event_id": "e2",
     "timestamp": "2025-04-01T09:00:07Z", "duration_ms": 0.1,
     "tool_call": {"name": "search", "input": {"q": "a,b"}, "output": "=HYPERLINK(\"x\")"}},
    {"event_type": "llm_call", "session_id": S, "event_id": "e3",
     "timestamp": "2025-04-01T09:00:09.000Z", "model": "alpha-model",
     "tokens_in": 20, "tokens_out": 10, "duration_ms": 0.2,
     "input_data": "plain string, with comma", "output_data": ["list", 1, True, None],
     "decision_trace": {"steps": [1]}},
    {"event_type": "decision", "session_id": S, "event_id": "e4",
     "timestamp": "2025-04-01T09:00:11Z", "input_data": 42, "output_data": EXOTIC,
     "decision_trace": {"reasoning": "-1 is the answer"}},
    {"event_type": "tool_call", "session_id": S, "event_id": "e5",
     "timestamp": "2025-04-01T09:00:13Z", "duration_ms": 12.5,
     "tool_call": {"tool_name": "@calc", "tool_input": "+1+1", "tool_output": {"result": 2}}},
    {"event_type": "custom", "session_id": S, "event_id": "@e6",
     "timestamp": "2025-04-01T09:00:15Z", "input_data": "\tTabbed", "output_data": "\rCR"},
    {"event_type": "session_end", "session_id": S, "timestamp": "2025-04-01T09:01:00Z",
     "status": "completed", "total_tokens_in": 500, "total_tokens_out": 200},
]


def ev(event_id, event_type, timestamp, **fields):
    expected = {key: None for key in EVENT_KEYS}
    expected.update(event_id=event_id, event_type=event_type, timestamp=timestamp, **fields)
    return expected


EXPECTED_EVENTS = [
    ev("exp-1:session_start", "session_start", "2025-04-01T09:00:00.000Z"),
    ev("e1", "llm_call", "2025-04-01T09:00:05.000Z", model="zeta-model", tokens_in=50,
       tokens_out=30, duration_ms=150.25, input_data={"prompt": "Hello, \"world\"\nline2"},
       output_data={"response": "Hi"},
       decision_trace={"reasoning": "Because, \"quoted\"\nand newline"}),
    ev("e2", "tool_call", "2025-04-01T09:00:07.000Z", duration_ms=0.1,
       tool_call={"name": "search", "input": {"q": "a,b"}, "output": "=HYPERLINK(\"x\")"}),
    ev("e3", "llm_call", "2025-04-01T09:00:09.000Z", model="alpha-model", tokens_in=20,
       tokens_out=10, duration_ms=0.2, input_data="plain string, with comma",
       output_data=["list", 1, True, None], decision_trace={"steps": [1]}),
    ev("e4", "decision", "2025-04-01T09:00:11.000Z", input_data=42, output_data=EXOTIC,
       decision_trace={"reasoning": "-1 is the answer"}),
    ev("e5", "tool_call", "2025-04-01T09:00:13.000Z", duration_ms=12.5,
       tool_call={"tool_name": "@calc", "tool_input": "+1+1", "tool_output": {"result": 2}}),
    ev("@e6", "custom", "2025-04-01T09:00:15.000Z", input_data="\tTabbed", output_data="\rCR"),
    ev("exp-1:session_end", "session_end", "2025-04-01T09:01:00.000Z"),
]
LIFECYCLE_KEYS = ("event_id", "event_type", "timestamp")


@pytest.fixture
def exp_client(client):
    # arrival order is not time order: session_end first, alpha-model (e3) before zeta-model (e1)
    order = [7, 3, 5, 0, 6, 1, 4, 2]
    post_events(client, [EVENTS[i] for i in order[:4]])
    post_events(client, [EVENTS[i] for i in order[4:]])
    return client


# ---------------------------------------------------------------------------
# JSON


def test_json_is_the_default_format(exp_client):
    default = export(exp_client, S)
    explicit = export(exp_client, S, "json")
    assert default.status_code == explicit.status_code == 200
    assert default.mimetype == explicit.mimetype == "application/json"
    a, b = json.loads(default.get_data()), json.loads(explicit.get_data())
    a.pop("exported_at"), b.pop("exported_at")
    assert a == b


def test_json_export_exact(exp_client):
    response = export(exp_client, S, "json")
    assert response.status_code == 200
    body = json.loads(response.get_data())
    assert set(body) == {"exported_at", "session", "events", "summary"}
    assert ISO_Z.match(body["exported_at"]), body["exported_at"]
    exported = datetime.strptime(body["exported_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - exported).total_seconds()) < 60
    assert body["session"] == {
        "session_id": S,
        "agent_name": "exporter",
        "status": "completed",
        "started_at": "2025-04-01T09:00:00.000Z",
        "ended_at": "2025-04-01T09:01:00.000Z",
        "total_tokens_in": 500,      # session_end's stated totals win over 50+20
        "total_tokens_out": 200,
        "metadata": META,
    }
    assert body["summary"] == {
        "total_events": 6,                               # e1..e6, lifecycle not counted
        "total_tokens": 700,                             # 500 + 200 (session totals)
        "total_cost_usd": 0,                             # neither model has a price:
        "cost_complete": False,                          # e1 and e3 are unpriced
        "models_used": ["zeta-model", "alpha-model"],    # first appearance: 09:00:05, 09:00:09
        "event_types": ["llm_call", "tool_call", "decision", "custom"],
        "total_duration_ms": 163.05,                     # 150.25 + 0.1 + 0.2 + 12.5
    }


def test_json_export_events_oldest_first_with_lifecycle(exp_client):
    body = json.loads(export(exp_client, S, "json").get_data())
    events = body["events"]
    assert [e["event_id"] for e in events] == [e["event_id"] for e in EXPECTED_EVENTS]
    for got, expected in zip(events, EXPECTED_EVENTS):
        missing = [key for key in EVENT_KEYS if key not in got]
        assert not missing, (missing, got)
        keys = LIFECYCLE_KEYS if expected["event_type"].startswith("session_") else EVENT_KEYS
        assert {k: got[k] for k in keys} == {k: expected[k] for k in keys}, got["event_id"]


def test_json_export_values_are_exact(exp_client):
    raw = export(exp_client, S, "json").get_data()
    e4 = json.loads(raw)["events"][4]
    assert e4["output_data"] == EXOTIC
    assert e4["output_data"]["n"] == 9007199254740993     # not squeezed through a double
    assert e4["output_data"]["u"] == "h\u00e9llo \u2603 \U0001F600"
    assert e4["input_data"] == 42 and isinstance(e4["input_data"], int)


def test_json_export_summary_half_float_sum_and_no_events(client):
    post_events(client, [
        {"event_type": "session_start", "session_id": "bare", "agent_name": "a",
         "timestamp": "2025-04-02T00:00:00Z"},
    ])
    body = json.loads(export(client, "bare").get_data())
    assert body["session"]["status"] == "active"
    assert body["session"]["ended_at"] is None
    assert body["session"]["metadata"] == {}
    assert body["summary"] == {"total_events": 0, "total_tokens": 0, "total_cost_usd": 0,
                               "cost_complete": True, "models_used": [],
                               "event_types": [], "total_duration_ms": 0}
    assert [e["event_id"] for e in body["events"]] == ["bare:session_start"]
    post_events(client, [
        {"event_type": "step", "session_id": "bare", "event_id": "x1",
         "timestamp": "2025-04-02T00:00:01Z", "duration_ms": 0.1, "tokens_in": 3},
        {"event_type": "step", "session_id": "bare", "event_id": "x2",
         "timestamp": "2025-04-02T00:00:02Z", "duration_ms": 0.2, "tokens_out": 4},
    ])
    body = json.loads(export(client, "bare").get_data())
    assert body["summary"] == {"total_events": 2, "total_tokens": 7,   # 3 + 4 (no stated totals)
                               "total_cost_usd": 0, "cost_complete": False,  # no model, no price
                               "models_used": [], "event_types": ["step"],
                               "total_duration_ms": 0.3}               # 0.1 + 0.2, 3 decimals


def test_summary_names_in_the_order_the_events_are_listed(client):
    # Arrival order differs from time order: "late" arrives first but is listed last.
    post_events(client, [
        {"event_type": "llm_call", "session_id": "order", "event_id": "late", "model": "model-a",
         "timestamp": "2025-04-02T00:00:09Z"},
        {"event_type": "tool_call", "session_id": "order", "event_id": "first",
         "model": "model-b", "timestamp": "2025-04-02T00:00:05Z"},
        {"event_type": "llm_call", "session_id": "order", "event_id": "tie", "model": "model-a",
         "timestamp": "2025-04-02T00:00:05Z"},
    ])
    body = json.loads(export(client, "order").get_data())
    assert [e["event_id"] for e in body["events"]] == ["first", "tie", "late"]
    assert body["summary"]["models_used"] == ["model-b", "model-a"]
    assert body["summary"]["event_types"] == ["tool_call", "llm_call"]


def test_json_export_unchanged_by_retries(exp_client):
    before = json.loads(export(exp_client, S).get_data())
    post_events(exp_client, list(reversed(EVENTS)))
    post_events(exp_client, EVENTS)
    after = json.loads(export(exp_client, S).get_data())
    before.pop("exported_at"), after.pop("exported_at")
    assert after == before
    assert len(after["events"]) == 8


# ---------------------------------------------------------------------------
# CSV

# Literal expected rows of the counted events (header and lifecycle rows apart).
EXPECTED_ROWS = {  # no model with a price: the cost cells (the last) are empty
    "e1": ["e1", "llm_call", "2025-04-01T09:00:05.000Z", "zeta-model", "50", "30", "150.25",
           '{"prompt":"Hello, \\"world\\"\\nline2"}', '{"response":"Hi"}', "", "", "",
           'Because, "quoted"\nand newline', ""],
    "e2": ["e2", "tool_call", "2025-04-01T09:00:07.000Z", "", "", "", "0.1", "", "",
           "search", '{"q":"a,b"}', "'=HYPERLINK(\"x\")", "", ""],
    "e3": ["e3", "llm_call", "2025-04-01T09:00:09.000Z", "alpha-model", "20", "10", "0.2",
           "plain string, with comma", '["list",1,true,null]', "", "", "", "", ""],
    "e5": ["e5", "tool_call", "2025-04-01T09:00:13.000Z", "", "", "", "12.5", "", "",
           "'@calc", "'+1+1", '{"result":2}', "", ""],
    "@e6": ["'@e6", "custom", "2025-04-01T09:00:15.000Z", "", "", "", "", "'\tTabbed", "'\rCR",
            "", "", "", "", ""],
}


def test_csv_header_and_rows(exp_client):
    rows = csv_rows(export(exp_client, S, "csv"))
    assert rows[0] == CSV_COLUMNS
    body = rows[1:]
    assert all(len(row) == len(CSV_COLUMNS) for row in body), body
    # every event, lifecycle included, oldest first
    assert [row[0] for row in body] == [
        "exp-1:session_start", "e1", "e2", "e3", "e4", "e5", "'@e6", "exp-1:session_end"]
    assert body[0][:3] == ["exp-1:session_start", "session_start", "2025-04-01T09:00:00.000Z"]
    assert body[7][:3] == ["exp-1:session_end", "session_end", "2025-04-01T09:01:00.000Z"]
    by_id = {row[0]: row for row in body}
    for event_id, expected in EXPECTED_ROWS.items():
        key = "'" + event_id if event_id.startswith("@") else event_id
        assert by_id[key] == expected, event_id


def test_csv_json_cells_round_trip(exp_client):
    rows = csv_rows(export(exp_client, S, "csv"))
    e4 = {name: value for name, value in zip(rows[0], rows[5])}
    assert e4["event_id"] == "e4" and e4["event_type"] == "decision"
    assert e4["input_data"] == "42"
    assert json.loads(e4["output_data"]) == EXOTIC
    assert e4["reasoning"] == "'-1 is the answer"           # starts with "-": neutralised
    assert (e4["model"], e4["tokens_in"], e4["duration_ms"]) == ("", "", "")
    # compact JSON text: no blank after separators
    e1 = {name: value for name, value in zip(rows[0], rows[2])}
    assert ", " not in e1["output_data"] and ": " not in e1["output_data"]
    assert json.loads(e1["input_data"]) == {"prompt": "Hello, \"world\"\nline2"}
    e3 = dict(zip(rows[0], rows[4]))
    assert json.loads(e3["output_data"]) == ["list", 1, True, None]


def test_csv_quotes_commas_quotes_and_newlines(exp_client):
    text = export(exp_client, S, "csv").get_data(as_text=True)
    # the reasoning cell of e1 holds a real newline, a comma and quotes: quoted, quotes doubled
    assert '"Because, ""quoted""\nand newline"' in text
    assert '"plain string, with comma"' in text
    assert '"{""q"":""a,b""}"' in text


@given(st.lists(st.text(alphabet=st.sampled_from('ab ,"\r\n\t\'=é'), max_size=6), min_size=2,
                max_size=14))
def test_a_csv_line_is_what_csv_writer_writes(cells):
    written = io.StringIO()
    csv.writer(written).writerow(cells)
    assert csv_line(cells) == written.getvalue()


def test_csv_formula_cells_are_neutralised(client):
    s = "formula"
    post_events(client, [
        {"event_type": "session_start", "session_id": s, "agent_name": "f",
         "timestamp": "2025-04-03T00:00:00Z"},
        {"event_type": "=cmd", "session_id": s, "event_id": "-f1",
         "timestamp": "2025-04-03T00:00:01Z", "model": "+model",
         "input_data": "=1+1", "output_data": "@SUM(A1)",
         "tool_call": {"name": "-rm", "input": "\tx", "output": "\rY"},
         "decision_trace": {"reasoning": "=2"}},
        {"event_type": "ok", "session_id": s, "event_id": "f2",
         "timestamp": "2025-04-03T00:00:02Z",
         "input_data": "a=1", "output_data": "x-y", "decision_trace": {"reasoning": "fine +"}},
    ])
    rows = csv_rows(export(client, s, "csv"))
    row = dict(zip(rows[0], rows[2]))
    assert row == {
        "event_id": "'-f1", "event_type": "'=cmd", "timestamp": "2025-04-03T00:00:01.000Z",
        "model": "'+model", "tokens_in": "", "tokens_out": "", "cost_usd": "", "duration_ms": "",
        "input_data": "'=1+1", "output_data": "'@SUM(A1)", "tool_name": "'-rm",
        "tool_input": "'\tx", "tool_output": "'\rY", "reasoning": "'=2",
    }
    # characters that are only dangerous in first position are left alone
    row = dict(zip(rows[0], rows[3]))
    assert (row["input_data"], row["output_data"], row["reasoning"]) == ("a=1", "x-y", "fine +")
    # the JSON export is exact: no quote added there
    body = json.loads(export(client, s, "json").get_data())
    assert body["events"][1]["input_data"] == "=1+1"
    assert body["events"][1]["event_id"] == "-f1"


def test_csv_content_disposition_with_safe_filename(client):
    s = 'my run;"x",\u00e9'
    post_events(client, [{"event_type": "session_start", "session_id": s, "agent_name": "a",
                          "timestamp": "2025-04-04T00:00:00Z"}])
    response = export(client, s, "csv")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    match = re.search(r'filename="?([^";]+)"?', disposition)
    assert match, disposition
    filename = match.group(1)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", filename), filename
    # my run;"x",é: ' ' -> _, ';' '"' -> __, '"' ',' 'é' -> ___
    assert "my_run__x___" in filename and filename.endswith(".csv"), filename
    rows = csv_rows(response)
    assert rows[1][:2] == [f"{s}:session_start", "session_start"]


def test_csv_plain_session_id_filename(exp_client):
    response = export(exp_client, S, "csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert re.search(r'filename="?[A-Za-z0-9._-]*exp-1[A-Za-z0-9._-]*\.csv"?', disposition), disposition


def test_json_export_downloads_too_and_formats_ignore_case(exp_client):
    response = export(exp_client, S, "json")
    assert response.headers["Content-Disposition"] == 'attachment; filename="session-exp-1.json"'
    for fmt, mimetype in (("JSON", "application/json"), ("Csv", "text/csv")):
        assert export(exp_client, S, fmt).mimetype == mimetype


# ---------------------------------------------------------------------------
# errors


def test_unknown_format_is_400(exp_client):
    for fmt in ("xml", "JSONL", "pdf"):
        assert_error(export(exp_client, S, fmt), 400)


def test_unknown_session_is_404(client):
    for fmt in (None, "json", "csv"):
        response = export(client, "no-such-session", fmt)
        assert assert_error(response, 404) == "Session not found"


def test_csv_pieces_stay_small_when_rows_are_large():
    """The export is read a piece at a time (db.spooled spills past 1 MiB): a piece ends
    after 100 rows or once it holds 256 KiB, so rows of megabytes are not gathered."""
    rows = [f"row-{n}," + "x" * 300_000 + "\r\n" for n in range(5)]
    pieces = list(csv_pieces(iter(rows)))
    assert b"".join(pieces) == (csv_line(CSV_COLUMNS) + "".join(rows)).encode()
    assert len(pieces) == 5  # the header rides with the first row
    assert max(map(len, pieces)) < 310_000
    small = [f"{n}\r\n" for n in range(250)]
    assert [piece.count(b"\r\n") for piece in csv_pieces(iter(small))] == [100, 100, 51]
