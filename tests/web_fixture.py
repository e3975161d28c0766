"""Sessions for the web viewer's tests, sent through the real ``POST /events``, with the
figures each page should show worked out here from the data itself.

``FIXTURE`` is a small world: a planner session with a nested timeline (an LLM call,
under it a tool, under that a sub-tool) and an error event, a failed coder session,
thirty small sessions of a batch agent (for paging and filters), and one session of
10,000 events in 40 nested groups. ``HOSTILE`` puts one payload in every text field.
"""
from datetime import datetime, timedelta, timezone

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
BASE = NOW - timedelta(days=2)
BULK = 30
HUGE_ID = "huge-10k"
HUGE_GROUPS, HUGE_GROUP_SIZE = 40, 250  # 40 roots, each followed by its 249 children


def at(moment, **delta):
    return (moment + timedelta(**delta)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alpha():
    sid = "alpha-1"
    return [
        {"event_type": "session_start", "session_id": sid, "agent_name": "planner",
         "metadata": {"team": "search", "version": 3}, "timestamp": at(BASE)},
        {"event_type": "llm_call", "session_id": sid, "event_id": "a-llm", "timestamp": at(BASE, seconds=1),
         "model": "gpt-4o", "tokens_in": 1200, "tokens_out": 300, "duration_ms": 1500,
         "input_data": {"prompt": "Plan the search"}, "output_data": {"response": "Search first"},
         "decision_trace": {"reasoning": "Fresh data is needed"}},
        {"event_type": "tool_call", "session_id": sid, "event_id": "a-search", "parent_id": "a-llm",
         "timestamp": at(BASE, seconds=3), "duration_ms": 800,
         "tool_call": {"name": "web_search", "input": {"q": "agents"}, "output": {"hits": 8}}},
        {"event_type": "tool_call", "session_id": sid, "event_id": "a-fetch", "parent_id": "a-search",
         "timestamp": at(BASE, seconds=4), "duration_ms": 200,
         "tool_call": {"name": "fetch_page", "input": {"url": "https://example.org"}, "output": "ok"}},
        {"event_type": "error", "session_id": sid, "event_id": "a-error", "timestamp": at(BASE, seconds=6),
         "output_data": {"error": "quota exceeded"}},
        {"event_type": "llm_call", "session_id": sid, "event_id": "a-llm2", "timestamp": at(BASE, seconds=7),
         "model": "gpt-4o-mini", "tokens_in": 400, "tokens_out": 100, "duration_ms": 700},
        {"event_type": "session_end", "session_id": sid, "timestamp": at(BASE, seconds=10),
         "status": "completed"},
    ]


def beta():
    sid, start = "beta-2", BASE + timedelta(hours=1)
    return [
        {"event_type": "session_start", "session_id": sid, "agent_name": "coder",
         "metadata": {"repo": "acme/api"}, "timestamp": at(start)},
        {"event_type": "llm_call", "session_id": sid, "event_id": "b-llm", "timestamp": at(start, seconds=2),
         "model": "gpt-4o", "tokens_in": 500, "tokens_out": 200, "duration_ms": 900},
        {"event_type": "tool_call", "session_id": sid, "event_id": "b-run", "parent_id": "b-llm",
         "timestamp": at(start, seconds=5), "duration_ms": 3000,
         "tool_call": {"name": "run_tests", "input": {}, "output": None, "success": False,
                       "error": "2 failed"}},
        {"event_type": "session_end", "session_id": sid, "timestamp": at(start, seconds=20),
         "status": "error"},
    ]


def bulk():
    events = []
    for n in range(BULK):
        sid, start = f"bulk-{n:02d}", BASE - timedelta(hours=n + 1)
        events += [
            {"event_type": "session_start", "session_id": sid, "agent_name": "batch-bot",
             "timestamp": at(start)},
            {"event_type": "llm_call", "session_id": sid, "event_id": f"bulk-{n:02d}-llm",
             "timestamp": at(start, seconds=1), "model": "gpt-4o-mini", "tokens_in": 10,
             "tokens_out": 5, "duration_ms": 100},
        ]
    return events


def huge():
    """10,000 events after the start: 40 agent turns, each with 249 steps under it."""
    start = BASE - timedelta(days=5)
    events = [{"event_type": "session_start", "session_id": HUGE_ID, "agent_name": "marathon",
               "timestamp": at(start)}]
    for n in range(HUGE_GROUPS * HUGE_GROUP_SIZE):
        group, step = divmod(n, HUGE_GROUP_SIZE)
        event = {"session_id": HUGE_ID, "timestamp": at(start, milliseconds=10 * (n + 1)),
                 "duration_ms": 5}
        if step == 0:
            event.update(event_type="agent_turn", event_id=f"turn-{group}")
        else:
            event.update(event_type="step", event_id=f"step-{group}-{step}",
                         parent_id=f"turn-{group}", input_data={"step": step})
        events.append(event)
    return events


def sessions_of(events):
    """Per session: agent, status, counted events, tokens, errors, from the events sent."""
    found = {}
    for event in events:
        entry = found.setdefault(event["session_id"], {
            "agent_name": "unknown", "status": "active", "events": 0, "tokens_in": 0,
            "tokens_out": 0, "errors": 0})
        kind = event["event_type"]
        if kind == "session_start":
            entry["agent_name"] = event["agent_name"]
        elif kind == "session_end":
            entry["status"] = event["status"]
        else:
            entry["events"] += 1
            entry["tokens_in"] += event.get("tokens_in", 0)
            entry["tokens_out"] += event.get("tokens_out", 0)
            tool = event.get("tool_call") or {}
            entry["errors"] += "error" in kind or tool.get("success") is False
    return found


FIXTURE_EVENTS = alpha() + beta() + bulk()
EXPECTED = sessions_of(FIXTURE_EVENTS + huge())
STARTS = {event["session_id"]: datetime.fromisoformat(event["timestamp"])
          for event in FIXTURE_EVENTS + huge()[:1] if event["event_type"] == "session_start"}

PAYLOAD = '<script>alert("s")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>{{7*7}}'


def hostile(sid):
    """Every text field of a session carries PAYLOAD."""
    p = PAYLOAD
    return [
        {"event_type": "session_start", "session_id": sid, "agent_name": f"agent {p}",
         "metadata": {p: p, "nested": {"k": p}}, "timestamp": at(BASE)},
        {"event_type": f"llm {p}", "session_id": sid, "event_id": f"root {p}", "model": f"model {p}",
         "timestamp": at(BASE, seconds=1), "tokens_in": 7, "tokens_out": 3, "duration_ms": 10,
         "input_data": {"prompt": p}, "output_data": {"response": p},
         "decision_trace": {"reasoning": p}, "metadata": {"k": p}},
        {"event_type": "tool_call", "session_id": sid, "event_id": f"child {p}",
         "parent_id": f"root {p}", "timestamp": at(BASE, seconds=2),
         "tool_call": {"name": f"tool {p}", "input": p, "output": {p: p}, "success": False,
                       "error": p}},
        {"event_type": f"error {p}", "session_id": sid, "event_id": f"err {p}",
         "timestamp": at(BASE, seconds=3), "output_data": {"error": p}},
    ]


HOSTILE_A, HOSTILE_B = f"evil-a {PAYLOAD}", f"evil-b {PAYLOAD}"
HOSTILE_EVENTS = hostile(HOSTILE_A) + hostile(HOSTILE_B)


def send(server, events, batch=1000):
    for first in range(0, len(events), batch):
        chunk = events[first:first + batch]
        response = server.post("/events", {"events": chunk})
        assert response.status_code == 200, response.text
        assert response.json()["processed"] == len(chunk), response.text
