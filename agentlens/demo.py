"""``seed-demo``: a few realistic sessions, sent through the normal ingest path."""
from datetime import datetime, timedelta, timezone

import click
from flask import current_app

from .db import get_db
from .ingest.formats import agentlens
from .ingest.store import store_batch
from .pricing.book import price_events


def _at(start, seconds):
    return (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def demo_events(now):
    """Three sessions: a research run with nested tools, a failed support run, a live one."""
    research, support, coding = "demo-research-1", "demo-support-1", "demo-coding-1"
    r0, s0, c0 = now - timedelta(hours=3), now - timedelta(hours=1), now - timedelta(minutes=5)
    return [
        {"event_type": "session_start", "session_id": research, "agent_name": "research-agent",
         "metadata": {"version": "2.0", "env": "demo"}, "timestamp": _at(r0, 0)},
        {"event_type": "llm_call", "session_id": research, "event_id": "demo-r-1",
         "timestamp": _at(r0, 1), "model": "gpt-4o",
         "input_data": {"prompt": "Find recent papers on retrieval-augmented generation"},
         "output_data": {"response": "I will search the web for RAG papers from 2026."},
         "tokens_in": 420, "tokens_out": 96, "duration_ms": 1180.5,
         "decision_trace": {"reasoning": "The question needs fresh sources, so search first."}},
        {"event_type": "tool_call", "session_id": research, "event_id": "demo-r-2",
         "parent_id": "demo-r-1", "timestamp": _at(r0, 3), "duration_ms": 640,
         "tool_call": {"name": "web_search", "input": {"query": "RAG papers 2026"},
                       "output": {"results": 8}, "success": True},
         "decision_trace": {"reasoning": "web_search is the only tool with fresh data."}},
        {"event_type": "tool_call", "session_id": research, "event_id": "demo-r-3",
         "parent_id": "demo-r-2", "timestamp": _at(r0, 4), "duration_ms": 210,
         "tool_call": {"name": "fetch_page", "input": {"url": "https://example.org/rag"},
                       "output": {"status": 200, "chars": 18234}, "success": True}},
        {"event_type": "llm_call", "session_id": research, "event_id": "demo-r-4",
         "timestamp": _at(r0, 6), "model": "gpt-4o",
         "input_data": {"prompt": "Summarise the eight results"},
         "output_data": {"response": "Three themes stand out: ..."},
         "tokens_in": 2310, "tokens_out": 388, "duration_ms": 2950},
        {"event_type": "session_end", "session_id": research, "timestamp": _at(r0, 9),
         "status": "completed"},

        {"event_type": "session_start", "session_id": support, "agent_name": "support-bot",
         "metadata": {"channel": "email"}, "timestamp": _at(s0, 0)},
        {"event_type": "llm_call", "session_id": support, "event_id": "demo-s-1",
         "timestamp": _at(s0, 1), "model": "claude-sonnet-4",
         "input_data": {"prompt": "Customer asks where order #1042 is"},
         "output_data": {"response": "Looking the order up."},
         "tokens_in": 310, "tokens_out": 42, "duration_ms": 890,
         "decision_trace": {"reasoning": "Order status lives in the orders database."}},
        {"event_type": "tool_call", "session_id": support, "event_id": "demo-s-2",
         "parent_id": "demo-s-1", "timestamp": _at(s0, 2), "duration_ms": 5003,
         "tool_call": {"name": "orders_db", "input": {"order": 1042}, "output": None,
                       "success": False, "error": "connection timed out after 5s"}},
        {"event_type": "error", "session_id": support, "event_id": "demo-s-3",
         "timestamp": _at(s0, 8),
         "output_data": {"error": "Could not reach the orders database", "retryable": True}},
        {"event_type": "session_end", "session_id": support, "timestamp": _at(s0, 9),
         "status": "error"},

        {"event_type": "session_start", "session_id": coding, "agent_name": "coding-agent",
         "metadata": {"repo": "acme/api"}, "timestamp": _at(c0, 0)},
        {"event_type": "llm_call", "session_id": coding, "event_id": "demo-c-1",
         "timestamp": _at(c0, 2), "model": "claude-sonnet-4",
         "input_data": {"prompt": "Fix the failing test in tests/test_orders.py"},
         "output_data": {"response": "The fixture uses a naive datetime."},
         "tokens_in": 1800, "tokens_out": 240, "duration_ms": 3100},
        {"event_type": "decision", "session_id": coding, "event_id": "demo-c-2",
         "timestamp": _at(c0, 3),
         "decision_trace": {"reasoning": "Patch the fixture rather than the model code.",
                            "alternatives": ["change the model", "skip the test"]}},
    ]


def seed_demo(conn, now=None):
    events, rejected = agentlens.parse_batch(
        {"events": demo_events(now or datetime.now(timezone.utc))},
        max_batch=1000, max_field_bytes=current_app.config["MAX_FIELD_BYTES"],
    )
    assert not rejected, rejected
    return store_batch(conn, price_events(conn, events))


@click.command("seed-demo")
def seed_demo_command():
    """Load three demo sessions (running it again stores nothing twice)."""
    result = seed_demo(get_db())
    click.echo(f"Stored {result.stored} demo events ({result.duplicates} already there).")


def init_app(app):
    app.cli.add_command(seed_demo_command)
