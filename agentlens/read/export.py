"""GET /sessions/<id>/export: the whole session as JSON or CSV, streamed from a cursor."""
import csv
import io
import itertools

from .. import jsonstrict
from ..ingest.events import tool_field, tool_name
from ..rules import COUNTED
from ..timestamps import format_ms, now_ms
from .numbers import milliseconds
from .sessions import as_stored, get_session, iter_events, json_with_events, loads, raw

CSV_COLUMNS = (
    "event_id", "event_type", "timestamp", "model", "tokens_in", "tokens_out", "cost_usd",
    "duration_ms",
    "input_data", "output_data", "tool_name", "tool_input", "tool_output", "reasoning",
)
# Spreadsheets run a cell starting with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def export_session(session):
    """The session as the export shows it (the documented key order)."""
    keys = ("session_id", "agent_name", "status", "started_at", "ended_at",
            "total_tokens_in", "total_tokens_out", "metadata")
    return {key: session[key] for key in keys}


def summary(conn, session):
    """Counted events only; names in order of first appearance."""
    totals = conn.execute(
        f"SELECT count(*) AS events, coalesce(sum({conn.duration_us_sql}), 0) AS duration_us "
        f"FROM events WHERE session_id = ? AND {COUNTED}", (session["session_id"],)).fetchone()
    models = conn.execute(
        f"SELECT model FROM events WHERE session_id = ? AND {COUNTED} AND model IS NOT NULL "
        "GROUP BY model ORDER BY min(ts), min(id)", (session["session_id"],)).fetchall()
    types = conn.execute(
        f"SELECT event_type FROM events WHERE session_id = ? AND {COUNTED} "
        "GROUP BY event_type ORDER BY min(ts), min(id)", (session["session_id"],)).fetchall()
    return {
        "total_events": totals["events"],
        "total_tokens": session["total_tokens_in"] + session["total_tokens_out"],
        "total_cost_usd": session["total_cost_usd"],
        "cost_complete": session["cost_complete"],
        "models_used": [row[0] for row in models],
        "event_types": [row[0] for row in types],
        "total_duration_ms": milliseconds(totals["duration_us"]),
    }


def export_json(conn, session_id):
    """JSON text in pieces: the summary is computed first, the events streamed."""
    session = get_session(conn, session_id)
    head = {"exported_at": format_ms(now_ms()), "session": export_session(session)}
    return json_with_events(head, iter_events(conn, session["session_id"], raw),
                            {"summary": summary(conn, session)})


def cell(value):
    """A CSV cell: JSON for structured values, neutralised against formula injection."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        value = jsonstrict.dumps(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def reasoning(decision_trace):
    if isinstance(decision_trace, dict):
        return decision_trace.get("reasoning")
    return decision_trace


def fixed_usd(cost_usd):
    """A cost with its 6 decimals written out (never 1e-06); empty when unpriced."""
    return None if cost_usd is None else f"{cost_usd:.6f}"


def json_cell(text):
    """A cell for a stored JSON field: an object or array is already the compact JSON
    the cell shows, so it is used as stored; anything else is decoded."""
    if text is not None and text[:1] in ("{", "["):
        return cell(text)
    return cell(loads(text))


def csv_row(event):
    """A CSV row of an event read with its JSON fields as stored text (``decode=as_stored``)."""
    tool_call = loads(event["tool_call"])
    return [
        *map(cell, (event["event_id"], event["event_type"], event["timestamp"], event["model"],
                    event["tokens_in"], event["tokens_out"], fixed_usd(event["cost_usd"]),
                    event["duration_ms"])),
        json_cell(event["input_data"]), json_cell(event["output_data"]),
        *map(cell, (tool_name(tool_call), tool_field(tool_call, "input"),
                    tool_field(tool_call, "output"), reasoning(loads(event["decision_trace"])))),
    ]


def export_csv(conn, session_id, rows_per_piece=100):
    """CSV text, a hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = map(csv_row, iter_events(conn, session_id, decode=as_stored))
    for piece in batched(itertools.chain([CSV_COLUMNS], rows), rows_per_piece):
        writer.writerows(piece)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def batched(items, size):
    iterator = iter(items)
    while piece := list(itertools.islice(iterator, size)):
        yield piece
