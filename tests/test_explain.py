import re
import uuid

import otlp_builder
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlens.ingest.events import make_event, session_update
from agentlens.ingest.store import store_batch
from agentlens.read import explain
from agentlens.read.explain import explain_session

T0 = "2026-02-14T10:00:00.000Z"


def at(seconds):
    whole, ms = divmod(round(seconds * 1000), 1000)
    return f"2026-02-14T10:{whole // 60:02d}:{whole % 60:02d}.{ms:03d}Z"


def post(client, events):
    response = client.post("/events", json={"events": events})
    assert response.status_code == 200, response.json
    assert "rejected" not in response.json, response.json


def start(session_id, agent_name="agent", seconds=0):
    return {"event_type": "session_start", "session_id": session_id,
            "agent_name": agent_name, "timestamp": at(seconds)}


def llm(session_id, event_id, seconds, prompt="hi", **fields):
    return {"event_type": "llm_call", "session_id": session_id, "event_id": event_id,
            "timestamp": at(seconds), "model": "gpt-4o", "input_data": {"prompt": prompt},
            **fields}


def timeline_of(document):
    lines = document.split("\n")
    return lines[lines.index("### Timeline") + 2:lines.index("### Summary") - 1]


SMALL_SESSION = [
    start("trip-1", "planner-bot"),
    {"event_type": "llm_call", "session_id": "trip-1", "event_id": "t-1", "timestamp": at(1),
     "model": "gpt-4o", "input_data": {"prompt": "Plan a trip"},
     "output_data": {"response": "Search flights first."},
     "tokens_in": 100, "tokens_out": 20, "duration_ms": 150,
     "decision_trace": {"reasoning": "Flights constrain the dates."}},
    {"event_type": "tool_call", "session_id": "trip-1", "event_id": "t-2", "parent_id": "t-1",
     "timestamp": at(2), "duration_ms": 1180.5,
     "tool_call": {"name": "search_flights", "input": {"to": "Lisbon"},
                   "output": {"found": 3}}},
    {"event_type": "tool_call", "session_id": "trip-1", "event_id": "t-3", "parent_id": "t-2",
     "timestamp": at(3), "duration_ms": 80.25,
     "tool_call": {"tool_name": "fetch_prices", "tool_input": {"flight": "TP123"},
                   "tool_output": "EUR 120"}},
    {"event_type": "tool_call", "session_id": "trip-1", "event_id": "t-4", "parent_id": "t-1",
     "timestamp": at(4), "duration_ms": 30,
     "tool_call": {"name": "book_hotel", "input": {"city": "Lisbon"}, "output": None,
                   "success": False, "error": "no rooms left"}},
    {"event_type": "error", "session_id": "trip-1", "event_id": "t-5", "timestamp": at(5),
     "output_data": {"error": "Could not book a hotel", "code": 503}},
    {"event_type": "session_end", "session_id": "trip-1", "timestamp": at(45.25),
     "status": "error"},
]

# Cost: gpt-4o at $2.50 / $10 per million tokens, 100 x 2.5 + 20 x 10 = 450 µ$.
SMALL_SESSION_MARKDOWN = """\
## Agent Session: planner-bot
**Duration:** 45.3s
**Status:** error
**Tokens:** 100 in / 20 out (120 total)

### Timeline

1. Session started
2. **LLM call** gpt-4o (100 in / 20 out tokens, 150 ms) — prompt: `Plan a trip`; \
response: `Search flights first.`; reasoning: `Flights constrain the dates.`
   - **Tool call** search\\_flights (1180.5 ms) — input: `{"to":"Lisbon"}`; output: `{"found":3}`
     - **Tool call** fetch\\_prices (80.25 ms) — input: `{"flight":"TP123"}`; output: `EUR 120`
   - **Tool call** book\\_hotel (30 ms) — input: `{"city":"Lisbon"}`; failed: `no rooms left`
3. **Error** — `Could not book a hotel`
4. Session ended — error

### Summary

- **Events:** 5 (3 tool\\_call, 1 error, 1 llm\\_call)
- **Errors:** 2
- **Tokens:** 120 total (100 in / 20 out)
- **Cost:** $0.000450
- **Status:** error
"""


def test_small_session_whole_document(client, conn):
    post(client, SMALL_SESSION)
    assert explain_session(conn, "trip-1") == SMALL_SESSION_MARKDOWN


def test_order_of_arrival_does_not_matter(client, conn):
    post(client, SMALL_SESSION[::-1])
    assert explain_session(conn, "trip-1") == SMALL_SESSION_MARKDOWN


def test_unknown_session(conn):
    assert explain_session(conn, "nope") is None


def test_active_session_lasts_until_its_latest_event(client, conn):
    post(client, [start("live"), llm("live", "l-1", 12.34), llm("live", "l-2", 3)])
    document = explain_session(conn, "live")
    assert "**Duration:** 12.3s\n**Status:** active\n" in document
    assert timeline_of(document) == [
        "1. Session started",
        "2. **LLM call** gpt-4o — prompt: `hi`",
        "3. **LLM call** gpt-4o — prompt: `hi`",
    ]


def test_stated_final_tokens_win(client, conn):
    post(client, [start("s"), llm("s", "s-1", 1, tokens_in=10, tokens_out=5),
                  {"event_type": "session_end", "session_id": "s", "timestamp": at(2),
                   "total_tokens_in": 1200, "total_tokens_out": 350}])
    document = explain_session(conn, "s")
    assert "**Tokens:** 1200 in / 350 out (1550 total)\n" in document
    assert "- **Tokens:** 1550 total (1200 in / 350 out)\n" in document
    assert "2. **LLM call** gpt-4o (10 in / 5 out tokens) — prompt: `hi`" in document


def test_other_event_types_and_picked_fields(client, conn):
    post(client, [
        start("o"),
        {"event_type": "decision", "session_id": "o", "event_id": "o-1", "timestamp": at(1),
         "input_data": {"messages": [{"role": "user", "content": "go"}]},
         "output_data": {"completion": "went"},
         "decision_trace": {"alternatives": ["stay"]}},
        {"event_type": "tool_error", "session_id": "o", "event_id": "o-2", "timestamp": at(2),
         "input_data": {"query": "q"}, "metadata": {"message": "quota exceeded"}},
        {"event_type": "custom", "session_id": "o", "event_id": "o-3", "timestamp": at(3),
         "input_data": "plain text", "output_data": 42},
        {"event_type": "empty", "session_id": "o", "event_id": "o-4", "timestamp": at(4)},
        {"event_type": "tool_call", "session_id": "o", "event_id": "o-5", "timestamp": at(5),
         "tool_call": {"name": "probe", "success": False}},
    ])
    assert timeline_of(explain_session(conn, "o")) == [
        "1. Session started",
        '2. **decision** — input: `[{"role":"user","content":"go"}]`; output: `went`; '
        'reasoning: `{"alternatives":["stay"]}`',
        "3. **tool\\_error** — `quota exceeded`; input: `q`",
        "4. **custom** — input: `plain text`; output: `42`",
        "5. **empty**",
        "6. **Tool call** probe — failed",
    ]


def test_parents_outside_the_session_or_in_cycles(client, conn):
    post(client, [
        start("other"), llm("other", "x-1", 1),
        start("p"),
        llm("p", "p-1", 1, parent_id="x-1"),       # parent in another session
        llm("p", "p-2", 2, parent_id="missing"),   # parent never stored
        llm("p", "p-3", 3, parent_id="p-3"),       # its own parent
        llm("p", "p-4", 4, parent_id="p-5"),       # a cycle: p-4 <-> p-5
        llm("p", "p-5", 5, parent_id="p-4"),
        llm("p", "p-6", 6, parent_id="p-7"),       # child logged before its parent
        llm("p", "p-7", 7),
    ])
    item = "**LLM call** gpt-4o — prompt: `hi`"
    assert timeline_of(explain_session(conn, "p")) == [
        "1. Session started",
        f"2. {item}",
        f"3. {item}",
        f"4. {item}",
        f"5. {item}",
        f"   - {item}",
        f"6. {item}",
        f"   - {item}",
    ]


def test_sub_lists_start_at_the_parent_content_column(client, conn):
    events = [start("wide")] + [llm("wide", f"w-{i}", i + 1) for i in range(10)]
    events.append(llm("wide", "w-child", 20, parent_id="w-9"))
    post(client, events)
    lines = timeline_of(explain_session(conn, "wide"))
    assert lines[-2:] == ["11. **LLM call** gpt-4o — prompt: `hi`",
                          "    - **LLM call** gpt-4o — prompt: `hi`"]


def test_max_items_caps_the_timeline_but_not_the_summary(client, conn):
    events = [start("many")] + [llm("many", f"m-{i}", i + 1, tokens_in=1) for i in range(10)]
    events[3]["parent_id"] = "m-0"
    post(client, events)
    document = explain_session(conn, "many", max_items=4)
    item = "**LLM call** gpt-4o (1 in / 0 out tokens) — prompt: `hi`"
    assert timeline_of(document) == [
        "1. Session started",
        f"2. {item}",
        f"   - {item}",
        f"3. {item}",
        "",
        "… and 7 more events",
    ]
    assert "- **Events:** 10 (10 llm\\_call)\n" in document


def test_one_more_event_and_many_types(client, conn):
    events = [{"event_type": f"type-{i:02d}", "session_id": "types", "event_id": f"y-{i}",
               "timestamp": at(i)} for i in range(22)]
    events[0]["event_type"] = events[1]["event_type"] = "common"
    post(client, events)
    document = explain_session(conn, "types", max_items=21)
    assert timeline_of(document)[-2:] == ["", "… and 1 more event"]
    rare = ", ".join(f"1 type-{i:02d}" for i in range(2, 21))
    assert f"- **Events:** 22 (2 common, {rare}, 1 other type)\n" in document


def test_long_text_is_shortened_and_whitespace_collapsed(client, conn):
    post(client, [start("long", "a" * 100), llm("long", "g-1", 1, prompt="x" * 300,
                  output_data={"response": "line one\n\n   line two\t end\r\n"})])
    document = explain_session(conn, "long")
    assert document.startswith(f"## Agent Session: {'a' * 80}…\n")
    assert (f"2. **LLM call** gpt-4o — prompt: `{'x' * 120}…`; "
            "response: `line one line two end`") in document


def test_injected_markdown_stays_text(client, conn):
    evil = "\n# Heading\n- item\n```code```\n> quote\n<div>\n---\n"
    post(client, [
        start("evil", "# agent\n```"),
        {"event_type": "## type\n1. x", "session_id": "evil", "event_id": "v-1",
         "timestamp": at(1), "model": "*bold* [link](http://x)",
         "input_data": {"prompt": evil}, "output_data": {"response": "`tick` and ``two``"}},
        {"event_type": "tool_call", "session_id": "evil", "event_id": "v-2", "parent_id": "v-1",
         "timestamp": at(2), "tool_call": {"name": "\n# tool\n- x", "input": evil}},
    ])
    document = explain_session(conn, "evil")
    assert document.startswith("## Agent Session: \\# agent \\`\\`\\`\n")
    assert timeline_of(document) == [
        "1. Session started",
        "2. **\\#\\# type 1. x** \\*bold\\* \\[link\\](http://x) — "
        "input: ````# Heading - item ```code``` > quote <div> ---````; "
        "output: ``` `tick` and ``two`` ```",
        "   - **Tool call** \\# tool - x — input: ````# Heading - item ```code``` > quote "
        "<div> ---````",
    ]
    assert_structure(document, items=3)


# --- arbitrary text ----------------------------------------------------------

ITEM = re.compile(r"( *)(\d+\. |- )(.*)")
HEADER = re.compile(r"\*\*(Duration|Status|Tokens):\*\* \S")


def assert_structure(document, items):
    """Our headings only, no fences, one list item per event, sub-lists correctly indented."""
    lines = document.split("\n")
    assert lines[0].startswith("## Agent Session: ")
    assert [line for line in lines if line.lstrip().startswith("#")] == [
        lines[0], "### Timeline", "### Summary"]
    assert not [line for line in lines if line.lstrip().startswith(("```", "~~~"))]
    assert all(HEADER.match(line) for line in lines[1:4])
    timeline = timeline_of(document)
    assert len(timeline) == items
    columns, number = [0], 0  # content columns of the open items, outermost first
    for line in timeline:
        indent, marker, text = ITEM.fullmatch(line).groups()
        assert text and text == text.strip()
        while columns[-1] > len(indent):
            columns.pop()
        assert len(indent) == columns[-1]
        if not indent:
            number += 1
            assert marker == f"{number}. "
        else:
            assert marker == "- "
        columns.append(len(indent) + len(marker))
    assert lines[-8:-6] == ["### Summary", ""] and lines[-1] == ""
    assert all(line.startswith("- **") for line in lines[-6:-1])


def code_spans(line):
    """Contents of the CommonMark code spans of a line (backslash escapes honoured outside)."""
    spans, i = [], 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
        elif line[i] == "`":
            fence = re.match(r"`+", line[i:]).group()
            close = re.compile(r"(?<!`)" + fence + r"(?!`)").search(line, i + len(fence))
            assert close, line
            content = line[i + len(fence):close.start()]
            if content.startswith(" ") and content.endswith(" ") and content.strip():
                content = content[1:-1]
            spans.append(content)
            i = close.end()
        else:
            i += 1
    return spans


def collapsed(text, limit):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"),
                min_size=1, max_size=40).filter(
    lambda text: text not in ("session_start", "session_end"))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(max_size=300), agent=NAMES, model=NAMES, tool=NAMES, event_type=NAMES)
def test_arbitrary_text_never_changes_the_structure(client, conn, prompt, agent, model, tool,
                                                    event_type):
    session_id = str(uuid.uuid4())
    post(client, [
        start(session_id, agent),
        {"event_type": event_type, "session_id": session_id, "event_id": session_id + "-1",
         "timestamp": at(1), "model": model, "input_data": {"prompt": prompt}},
        {"event_type": "tool_call", "session_id": session_id, "event_id": session_id + "-2",
         "parent_id": session_id + "-1", "timestamp": at(2),
         "tool_call": {"name": tool, "input": prompt}},
    ])
    document = explain_session(conn, session_id)
    assert_structure(document, items=3)
    first, nested = timeline_of(document)[1:]
    if collapsed(prompt, 120):
        assert code_spans(first) == [collapsed(prompt, 120)]
        assert code_spans(nested) == [collapsed(prompt, 120)]
    else:
        assert code_spans(first) == code_spans(nested) == []


# --- helpers and size --------------------------------------------------------

def test_number_formats():
    assert explain.seconds(45250) == "45.3s"
    assert explain.seconds(45249) == "45.2s"
    assert explain.seconds(0) == "0.0s"
    assert explain.milliseconds(150.0) == "150 ms"
    assert explain.milliseconds(1180.5) == "1180.5 ms"
    assert explain.milliseconds(0.1 + 0.2) == "0.3 ms"


def test_code_span_fences():
    assert explain.excerpt("`x`") == "`` `x` ``"
    assert explain.excerpt("a ``` b") == "````a ``` b````"
    assert explain.excerpt({"k": "v"}) == '`{"k":"v"}`'
    assert explain.excerpt("  \n ") == "(empty)"


def test_a_session_of_100000_events(app, conn):
    # Stored through the one write path directly: 100 POSTs would only slow the test.
    events = [make_event(session_id="big", event_type="tool_call" if i % 2 else "llm_call",
                         source="agentlens", event_id=f"b-{i}", ts=1_771_063_200_000 + i,
                         parent_id=f"b-{i - 1}" if i % 3 else None, tokens_in=1,
                         tool_call={"name": "t", "success": i % 5 != 0}, max_field_bytes=1 << 20)
              for i in range(100_000)]
    store_batch(conn, events)
    document = explain_session(conn, "big", max_items=30)
    timeline = timeline_of(document)
    assert len(timeline) == 32 and timeline[-1] == "… and 99970 more events"
    assert "- **Events:** 100000 (50000 llm\\_call, 50000 tool\\_call)\n" in document
    assert "- **Errors:** 20000\n" in document
    assert "**Duration:** 100.0s\n" in document


# --- the explanation kept by revision ------------------------------------------------


def explained(client, session_id):
    response = client.get(f"/sessions/{session_id}/explain")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["explanation"]


def test_a_kept_explanation_is_rewritten_after_every_kind_of_change(app, client):
    """Asked again with nothing changed, the same text; after a new event, an amended
    one (its output only), a session deleted and sent again with other events, a trace
    moved into it: the text of the new state, as a process that never explained the
    session writes it."""
    from test_format_agentops import bearer, token_for

    def fresh_text(session_id):
        explain.RENDERED.entries.clear()
        return explained(client, session_id)

    post(client, [start("kept-1"), llm("kept-1", "k-1", 1, prompt="first")])
    first = explained(client, "kept-1")
    assert explained(client, "kept-1") == first
    post(client, [llm("kept-1", "k-1", 1, prompt="first")])  # a retry changes nothing
    assert explained(client, "kept-1") == first

    post(client, [llm("kept-1", "k-2", 2, prompt="second")])
    assert "`second`" in explained(client, "kept-1")
    assert explained(client, "kept-1") == fresh_text("kept-1")

    token = token_for(app, client, "kept-ao", init_timestamp="2026-03-01T10:00:00Z")
    assert client.post("/v2/create_events", headers=bearer(token), json={"events": [
        {"id": "a1", "type": "llm", "model": "gpt-4o", "prompt": "ask",
         "init_timestamp": "2026-03-01T10:00:01Z"}]}).status_code == 200
    before = explained(client, "kept-ao")
    assert client.post("/v2/update_events", headers=bearer(token), json={"events": [
        {"id": "a1", "completion": "the amended answer"}]}).status_code == 200
    after = explained(client, "kept-ao")
    assert after != before and "the amended answer" in after
    assert after == fresh_text("kept-ao")

    assert client.delete("/sessions/kept-1").status_code == 204
    assert client.get("/sessions/kept-1/explain").status_code == 404
    post(client, [start("kept-1", "other-agent"), llm("kept-1", "k-9", 9, prompt="anew")])
    again = explained(client, "kept-1")
    assert "Agent Session: other-agent" in again and "`anew`" in again
    assert "`first`" not in again
    assert again == fresh_text("kept-1")

    # A trace's spans first filed under its id, then its root naming the session.
    trace = "00000000000000000000000000000e01"
    child = otlp_builder.span(trace, "00000000000000c1", "chat", parent="00000000000000a1",
                              start_ms=1, attrs={"gen_ai.operation.name": "chat"})
    root = otlp_builder.span(trace, "00000000000000a1", "invoke_agent", duration_ms=50,
                             attrs={"session.id": "kept-1"})
    for spans in ([child], [root]):
        response = client.post("/v1/traces", headers={"Content-Type": "application/x-protobuf"},
                               data=otlp_builder.export(spans).SerializeToString())
        assert response.status_code == 200, response.get_data(as_text=True)
        moved = explained(client, "kept-1")
        assert moved == fresh_text("kept-1")
    assert timeline_of(moved) == ["1. **span** (50 ms)", "   - **LLM call** (10 ms)",
                                  "2. Session started", "3. **LLM call** gpt-4o — prompt: `anew`"]


def test_each_change_draws_a_new_revision_and_a_retry_none(app):
    from agentlens.db import get_db

    def revision(conn, session_id):
        return conn.execute("SELECT revision FROM sessions WHERE session_id = ?",
                            (session_id,)).fetchone()[0]

    def event(event_id, **fields):
        return make_event(session_id="rev-1", event_type="llm_call", source="agentlens",
                          event_id=event_id, ts=1_000, max_field_bytes=10**6, **fields)

    with app.app_context():
        conn = get_db()
        store_batch(conn, [event("e1", tokens_in=5)])
        seen = [revision(conn, "rev-1")]
        store_batch(conn, [event("e1", tokens_in=5)])  # stored already: nothing changes
        assert revision(conn, "rev-1") == seen[-1]
        store_batch(conn, [event("e2")])  # an event without tokens is added
        seen.append(revision(conn, "rev-1"))
        # The session alone changes: named, then ended, by updates that store no event.
        for change in ({"agent_name": "named"}, {"status": "completed"}):
            store_batch(conn, [], [session_update("rev-1", 2_000, "agentlens",
                                                  max_field_bytes=10**6, **change)])
            seen.append(revision(conn, "rev-1"))
        assert len(set(seen)) == len(seen) and all(0 < tag < 2**62 for tag in seen)
