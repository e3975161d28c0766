"""Assertions, readers and fixtures' mechanics shared by the test modules."""
import sys
from urllib.parse import quote

import agentlens.timestamps


def assert_error(response, status):
    """The one error shape: JSON {"error": "<text>"}, never HTML or a stack trace.
    Returns the text."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"].strip()
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()
    return body["error"]


def read_json(client, path, headers=None):
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def read_session(client, session_id, headers=None):
    return read_json(client, f"/sessions/{quote(session_id, safe='')}", headers)


def session(session_id, agent_name, started_at, metadata, events, *, ended_at=None,
            tokens_in=0, tokens_out=0, cost_usd=0.0, cost_complete=True, status="active"):
    """A session as GET /sessions/<id> returns it."""
    return {"session_id": session_id, "agent_name": agent_name, "started_at": started_at,
            "ended_at": ended_at, "metadata": metadata, "total_tokens_in": tokens_in,
            "total_tokens_out": tokens_out, "total_cost_usd": cost_usd,
            "cost_complete": cost_complete, "status": status, "events": events}


def counted(events):
    """The events every count covers: all but session_start/session_end."""
    return [e for e in events if e["event_type"] not in ("session_start", "session_end")]


def freeze_server_clock(monkeypatch, now_ms):
    """Make ``now_ms()`` return ``now_ms`` (or call it, when it is a function) in every
    agentlens module that imported it; JWTs and rate limits keep real time. Returns the
    patched module names."""
    real = agentlens.timestamps.now_ms
    clock = now_ms if callable(now_ms) else (lambda: now_ms)
    patched = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "agentlens" and getattr(module, "now_ms", None) is real:
            monkeypatch.setattr(module, "now_ms", clock)
            patched.append(name)
    return patched
