"""GET /sessions/<id>/export: the whole session as JSON or CSV, streamed from a cursor."""

from .. import jsonstrict
from ..ingest.events import tool_field, tool_name
from ..pricing.money import usd
from ..rules import duration_us, is_counted
from ..timestamps import format_ms, now_ms
from .numbers import milliseconds
from .sessions import event_rows, existing_session, iter_events, json_with_events, loads, raw

# The API's thirteen columns in its order (readers may go by position), then the cost.
CSV_COLUMNS = (
    "event_id", "event_type", "timestamp", "model", "tokens_in", "tokens_out", "duration_ms",
    "input_data", "output_data", "tool_name", "tool_input", "tool_output", "reasoning",
    "cost_usd",
)
# Spreadsheets run a cell starting with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def export_session(session):
    """The session as the export shows it (the documented key order)."""
    keys = ("session_id", "agent_name", "status", "started_at", "ended_at",
            "total_tokens_in", "total_tokens_out", "metadata")
    return {key: session[key] for key in keys}


class Summary:
    """The export's summary, tallied from the events as they stream past (oldest first):
    counted events only; names in order of first appearance."""

    def __init__(self):
        self.events, self.duration_us, self.models, self.types = 0, 0, {}, {}

    def add(self, event):
        event_type = event["event_type"]
        if is_counted(event_type):
            self.events += 1
            self.duration_us += duration_us(event["duration_ms"]) or 0
            if event["model"] is not None:
                self.models.setdefault(event["model"])
            self.types.setdefault(event_type)
        return event

    def as_dict(self, session):
        return {
            "total_events": self.events,
            "total_tokens": session["total_tokens_in"] + session["total_tokens_out"],
            "total_cost_usd": session["total_cost_usd"],
            "cost_complete": session["cost_complete"],
            "models_used": list(self.models),
            "event_types": list(self.types),
            "total_duration_ms": milliseconds(self.duration_us),
        }


def export_json(conn, session_id):
    """JSON in pieces (bytes): the events streamed, then the summary they added up to."""
    session = existing_session(conn, session_id)
    head = {"exported_at": format_ms(now_ms()), "session": export_session(session)}
    summary = Summary()
    events = map(summary.add, iter_events(conn, session["session_id"], raw))
    return json_with_events(head, events, lambda: {"summary": summary.as_dict(session)})


def cell(value):
    """A CSV cell: JSON for structured values, neutralised against formula injection."""
    if value is None:
        return ""
    if type(value) is not str:
        value = jsonstrict.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def reasoning(decision_trace):
    if isinstance(decision_trace, dict):
        return decision_trace.get("reasoning")
    return decision_trace


def fixed_usd(cost_nanos):
    """A cost with its 6 decimals written out (never 1e-06); empty when unpriced."""
    return None if cost_nanos is None else f"{usd(cost_nanos):.6f}"


def json_cell(text):
    """A cell for a stored JSON field: an object or array is already the compact JSON
    the cell shows, so it is used as stored; anything else is decoded."""
    if text is not None and text[:1] in ("{", "["):
        return text  # no formula starts so
    return cell(loads(text))


CSV_SOURCE_COLUMNS = ("event_id, event_type, ts, model, tokens_in, tokens_out, cost_nanos, "
                      "duration_ms, input_data, output_data, tool_call, decision_trace")


def csv_row(row):
    """The CSV line of an event read as CSV_SOURCE_COLUMNS, as csv_line writes it: a
    number or a time never needs quotes, so only text cells are looked at for them."""
    (event_id, event_type, ts, model, tokens_in, tokens_out, cost_nanos, duration_ms,
     input_data, output_data, tool_call, decision_trace) = row
    call = loads(tool_call)
    tool = NO_TOOL if call is None else (text_cell(tool_name(call)),
                                         text_cell(tool_field(call, "input")),
                                         text_cell(tool_field(call, "output")))
    return ",".join((
        text_cell(event_id), text_cell(event_type), format_ms(ts), text_cell(model),
        number_cell(tokens_in), number_cell(tokens_out), number_cell(duration_ms),
        quoted(json_cell(input_data)), quoted(json_cell(output_data)), *tool,
        "" if decision_trace is None else text_cell(reasoning(loads(decision_trace))),
        number_cell(fixed_usd(cost_nanos)),
    )) + "\r\n"


NO_TOOL = ("", "", "")


def text_cell(value):
    return "" if value is None else quoted(cell(value))


def number_cell(value):
    return "" if value is None else cell(value)


# A piece of the CSV ends after this many rows, or sooner once it holds this many
# characters: a row may hold megabytes.
ROWS_PER_PIECE = 100
PIECE_CHARS = 256 * 1024


def export_csv(conn, session_id):
    """CSV in pieces (UTF-8 bytes)."""
    existing_session(conn, session_id)
    return csv_pieces(map(csv_row, event_rows(conn, session_id, CSV_SOURCE_COLUMNS)))


def csv_pieces(lines):
    piece, size = [csv_line(CSV_COLUMNS)], 0
    for line in lines:
        piece.append(line)
        size += len(line)
        if len(piece) >= ROWS_PER_PIECE or size >= PIECE_CHARS:
            yield "".join(piece).encode()
            piece, size = [], 0
    if piece:
        yield "".join(piece).encode()


def csv_line(cells):
    """A CSV record as ``csv.writer`` writes it (minimal quoting, CRLF) at a third of its
    cost on cells of JSON text: ``str.replace`` instead of a loop over each character."""
    return ",".join(map(quoted, cells)) + "\r\n"


def quoted(text):
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text
