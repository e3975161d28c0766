"""Sessions to load through POST /events, and every figure a store shows, so that a store
that lost some sessions (delete, prune) can be compared with a fresh store loaded with
only the others.

``SESSIONS`` are varied on purpose: three agents, every status, ended and open
sessions, final token counts stated by a session_end, models and tools, failed tool
calls, error events, durations, ids with a "/", starts over several days and hours,
and a last activity of their own (``last_activity``), which retention goes by.
"""
from urllib.parse import quote

from agentlens import recount, rollups
from agentlens.rules import DAY_MS, HOUR_MS
from agentlens.db import get_db
from agentlens.timestamps import format_ms, parse_iso

NOW = 1_780_000_000_000  # 2026-05-28T20:26:40Z: the server's frozen clock
AGENTS = ("alpha", "beta", "gamma")
MODELS = ("gpt-4o", "claude-sonnet-4", None)


def session_events(number):
    """The events of session ``number``: deterministic, different from its neighbours."""
    session_id = f"team/s-{number}" if number % 4 == 1 else f"s-{number}"
    start = NOW - (number * 7 % 40 + 1) * DAY_MS - (number * 5 % 24) * HOUR_MS
    events = []
    if number % 5 != 3:  # some sessions never say how they started
        events.append({"event_type": "session_start", "session_id": session_id,
                       "agent_name": AGENTS[number % 3], "timestamp": format_ms(start),
                       "metadata": {"number": number}})
    ts = start
    for index in range(number % 4 + 2):
        ts += (index + 1) * 61_000 + number * 1_000
        event = {"session_id": session_id, "event_id": f"{session_id}-{index}",
                 "timestamp": format_ms(ts)}
        kind = (number + index) % 4
        if kind in (0, 1):
            event.update(event_type="llm_call", model=MODELS[(number + index) % 3],
                         tokens_in=10 * number + index, tokens_out=3 * index + 1,
                         duration_ms=100.25 * (index + 1))
        elif kind == 2:
            event.update(event_type="tool_call", duration_ms=12.5 + number,
                         tool_call={"name": f"tool-{index % 2}", "input": {"n": number},
                                    "success": number % 3 != 0})
        else:
            event.update(event_type="agent_error", output_data={"error": "boom"})
        events.append(event)
    if number % 3 != 2:  # the others stay active
        ts += 30_000
        end = {"event_type": "session_end", "session_id": session_id,
               "timestamp": format_ms(ts), "status": "error" if number % 6 == 4 else "completed"}
        if number % 7 == 0:
            end.update(total_tokens_in=1000 + number, total_tokens_out=7)
        events.append(end)
    return session_id, events


SESSIONS = dict(session_events(number) for number in range(14))


def last_activity(session_id):
    """The latest event time of a session (``last_event_at``), from its events here."""
    return max(parse_iso(event["timestamp"]) for event in SESSIONS[session_id])


def load(client, session_ids, headers=None):
    """POST the sessions' events, interleaved across sessions as several clients would."""
    events = [event for session_id in session_ids for event in SESSIONS[session_id]]
    events.sort(key=lambda event: (event["timestamp"], event["session_id"]))
    for start in range(0, len(events), 25):
        response = client.post("/events", json={"events": events[start:start + 25]},
                               headers=headers or {})
        assert response.status_code == 200, response.get_data(as_text=True)


def read(client, path):
    response = client.get(path)
    assert response.status_code == 200, (path, response.get_data(as_text=True))
    return response.get_json()


ANALYTICS_FILTERS = ("", "?agent_name=alpha", "?agent_name=unknown",
                     f"?from={format_ms(NOW - 20 * DAY_MS)}",
                     f"?from={format_ms(NOW - 30 * DAY_MS)}&to={format_ms(NOW - 10 * DAY_MS)}")


def figures(client, conn):
    """Everything the store shows about its sessions: /analytics (with filters), the
    session lists with their totals, every session, and the stored summaries
    themselves (sessions' rows and every rollup table)."""
    listed = read(client, "/sessions?limit=200")
    shown = {
        **{f"/analytics{query}": read(client, f"/analytics{query}") for query in ANALYTICS_FILTERS},
        **{f"/sessions?status={status}": read(client, f"/sessions?limit=200&status={status}")
           for status in ("active", "completed", "error")},
        "/sessions": listed,
        **{session["session_id"]: read(client, f"/sessions/{quote(session['session_id'], safe='')}")
           for session in listed["sessions"]},
    }
    tables = {rollup.table: conn.execute(f"SELECT * FROM {rollup.table} ORDER BY "
                                         f"{', '.join(rollup.keys)}").fetchall()
              for rollup in rollups.ALL}
    tables["traces"] = conn.execute("SELECT * FROM traces ORDER BY trace_id").fetchall()
    tables = {name: [tuple(row) for row in rows] for name, rows in tables.items()}
    # Every column of the sessions but their revision, a tag drawn anew at each change:
    # stores that reached the same state by different paths hold different tags.
    cursor = conn.execute("SELECT * FROM sessions ORDER BY session_id")
    kept = [n for n, column in enumerate(cursor.description) if column[0] != "revision"]
    tables["sessions"] = [tuple(row[n] for n in kept) for row in cursor.fetchall()]
    return shown, tables


def assert_same_as_fresh(client, conn, make_fresh, kept):
    """The store behind ``client``/``conn`` shows exactly what a fresh store loaded with
    only the ``kept`` sessions shows, and its totals agree with its events."""
    assert recount.check(conn) == []
    fresh = make_fresh()
    with fresh.app_context():
        fresh_client = fresh.test_client()
        load(fresh_client, kept)
        expected = figures(fresh_client, get_db())
    assert figures(client, conn) == expected
    assert sorted(s["session_id"] for s in expected[0]["/sessions"]["sessions"]) == sorted(kept)
