"""What the fuzz suite (``tests/test_fuzz_*.py``) sends, and what it checks of every answer.

Bodies are written as JSON text by :func:`dump`, so that they can carry what no JSON
encoder writes: numbers beyond a double (``1e999``), ``NaN`` and ``Infinity``, lone
surrogates (as ``\\ud800`` escapes and as the raw bytes ``ED A0 80``), bytes that are not
UTF-8, and nesting up to 100,000 deep. Each such piece is a :class:`Raw` that knows
whether the text around it stays RFC 8259 JSON: only then must the valid events beside
it be stored (a value the server refuses costs its own event, not the batch).

Valid events come from :func:`agentlens_event`, :func:`agentops_event` and
:func:`agnost_event`, without ids: the tests stamp ids unique to the example, so that
examples can share one server and read their own events back.

Every example is derandomized (the same ones on each run, so CI is stable); to search
further, run a module with ``FUZZ`` changed to ``derandomize=False`` and more examples.
"""
import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings, strategies as st

KEYS = ["fuzz-key-one", "fuzz-key-two"]
FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
# Events nested this deep are refused one by one; deeper, a parser may refuse the body.
PER_EVENT_DEPTH = 800


class Raw:
    """JSON text written as it is; ``usable`` if the body stays valid JSON around it."""

    def __init__(self, text, usable=True):
        self.text = text.encode() if isinstance(text, str) else text
        self.usable = usable

    def __repr__(self):
        shown = self.text if len(self.text) <= 40 else self.text[:20] + b"..." + self.text[-10:]
        return f"Raw({shown!r}{'' if self.usable else ', usable=False'})"


# Numbers: all but NaN and Infinity are RFC 8259 JSON text (a number's size is not limited).
NUMBERS = [Raw("1e999"), Raw("-1e999"), Raw("1E+400"), Raw("0.1e-999"), Raw("1e-400"),
           Raw("1.7976931348623157e309"), Raw("1" + "0" * 400), Raw("-" + "9" * 4000),
           Raw("9007199254740993"), Raw("18446744073709551616"), Raw("-0"), Raw("-0.0"),
           Raw("NaN", usable=False), Raw("Infinity", usable=False), Raw("-Infinity", usable=False)]
# Strings: escapes of lone surrogates are JSON text; bytes that are not UTF-8 are not.
STRINGS = [Raw(r'"\ud800"'), Raw(r'"\udfff"'), Raw(r'"a\ud800b"'), Raw(r'"\udc00\ud800"'),
           Raw(r'"\ud83d\ude00"'), Raw(r'"\u0000"'), Raw(r'"\u202e\ufeff"'),
           Raw(b'"\xef\xbb\xbf"'), Raw(b'"\xed\xa0\x80"', usable=False),
           Raw(b'"\xff\xfe"', usable=False), Raw(b'"\xc0\xaf"', usable=False),
           Raw(b'"\x01"', usable=False), Raw(r'"\x41"', usable=False),
           Raw('"unterminated', usable=False)]
DEEP = [975, 976, 978, 980, 981, 1000, 1500, 5000, 100_000]


def nested(depth, kind):
    if kind == "array":
        return Raw("[" * depth + "]" * depth, usable=depth <= PER_EVENT_DEPTH)
    return Raw('{"a":' * depth + "1" + "}" * depth, usable=depth <= PER_EVENT_DEPTH)


depths = st.one_of(st.integers(1, 300), st.integers(301, PER_EVENT_DEPTH), st.sampled_from(DEEP))
deep_values = st.builds(nested, depths, st.sampled_from(["array", "object"]))
# Any text a JSON encoder can write: no lone surrogates (st.text() never draws one),
# and a text field takes anything but U+0000 (test_hostile_input: it is refused).
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30)
valid_leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                         st.floats(allow_nan=False, allow_infinity=False), texts)
valid_values = st.recursive(
    valid_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12)
junk_leaves = st.one_of(valid_leaves, st.sampled_from(NUMBERS + STRINGS), deep_values)
junk_values = st.recursive(
    junk_leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.one_of(texts, st.sampled_from(STRINGS)), children, max_size=3),
    max_leaves=8)


def dump(value, ascii_only=True):
    """JSON text (bytes) of ``value``, with every Raw written as it is."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return b"{" + b",".join(dump(key, ascii_only) + b":" + dump(item, ascii_only)
                                for key, item in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(dump(item, ascii_only) for item in value) + b"]"
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def usable(value):
    """True when every Raw in ``value`` keeps the body valid JSON."""
    if isinstance(value, Raw):
        return value.usable
    if isinstance(value, dict):
        return all(usable(key) and usable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(usable(item) for item in value)
    return True


# -- valid events, per wire format (ids are stamped by the tests) -------------------

UTC_RANGE = (datetime(1900, 1, 1), datetime(2200, 1, 1))
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.datetimes(*UTC_RANGE, timezones=offsets)
iso_times = moments.map(lambda moment: moment.isoformat())
token_counts = st.integers(0, 10**12)
durations = st.one_of(st.integers(0, 10**9), st.floats(0, 1e9))


def optional(**fields):
    return st.fixed_dictionaries({}, optional=fields)


def agentlens_event():
    """A valid AgentLens event (DECISIONS: every field optional, typed)."""
    tool_call = st.fixed_dictionaries({"name": names}, optional={
        "input": valid_values, "output": valid_values, "success": st.booleans()})
    common = optional(
        model=texts, tokens_in=token_counts, tokens_out=token_counts, duration_ms=durations,
        input_data=valid_values, output_data=valid_values, tool_call=tool_call,
        decision_trace=valid_values, metadata=st.dictionaries(texts, valid_values, max_size=4),
        timestamp=iso_times, parent_id=names)
    kinds = st.one_of(
        st.fixed_dictionaries({"event_type": st.sampled_from(
            ["llm_call", "tool_call", "decision", "error", "agent_turn", "custom.step"])}),
        st.fixed_dictionaries({"event_type": st.just("session_start"), "agent_name": names}),
        st.fixed_dictionaries({"event_type": st.just("session_end")}, optional={
            "status": st.sampled_from(["active", "completed", "error"]),
            "total_tokens_in": token_counts, "total_tokens_out": token_counts}),
        st.just({}))
    return st.builds(lambda kind, rest: {**rest, **kind}, kinds, common)


@st.composite
def agentops_event(draw):
    """A valid AgentOps v2 event (``create_events``)."""
    event = draw(optional(
        type=st.sampled_from(["llm", "llms", "tool", "tools", "action", "actions", "error",
                              "errors", "custom"]),
        model=texts, prompt=valid_values, completion=valid_values,
        prompt_tokens=token_counts, completion_tokens=token_counts, name=texts,
        params=valid_values, returns=valid_values, error_type=texts, details=valid_values,
        action_type=texts, logs=valid_values, agent_id=texts, cost=valid_values))
    if draw(st.booleans()):
        start = draw(moments)
        event["init_timestamp"] = start.isoformat()
        if draw(st.booleans()):
            later = draw(st.integers(0, 86_400_000))
            event["end_timestamp"] = (start + timedelta(milliseconds=later)).isoformat()
    return event


def agnost_event():
    """A valid Agnost ``capture-event`` body but for ``session_id`` and ``event_id``."""
    return st.fixed_dictionaries({"primitive_name": names}, optional={
        "primitive_type": st.sampled_from(["tool", "resource", "prompt", ""]),
        "timestamp": st.integers(0, 4_102_444_800_000), "latency": durations,
        "success": st.booleans(), "args": valid_values | texts, "result": valid_values | texts,
        "metadata": valid_values, "checkpoints": valid_values})


# A value where a field's value goes: mostly one of the hard cases (alone, or inside an
# object or array), else any junk.
hard_values = st.sampled_from(NUMBERS + STRINGS) | deep_values
bad_values = st.one_of(hard_values, st.dictionaries(texts, hard_values, min_size=1, max_size=2),
                       st.lists(hard_values, min_size=1, max_size=2), junk_values)


def near(valid, fields):
    """A valid object with one to three of ``fields`` (or an unknown one) set to bad values.
    (Hypothesis draws the first fields of a list more often: those kept as JSON come first.)"""
    return st.builds(lambda event, changes: {**event, **changes}, valid,
                     st.dictionaries(st.sampled_from([*fields, "unknown_field"]), bad_values,
                                     min_size=1, max_size=3))


AGENTLENS_FIELDS = ["input_data", "metadata", "output_data", "tool_call", "decision_trace",
                    "event_type", "parent_id", "timestamp", "model", "tokens_in", "tokens_out",
                    "duration_ms", "agent_name", "status", "total_tokens_in",
                    "total_tokens_out", "event_id"]
AGENTOPS_FIELDS = ["prompt", "returns", "completion", "params", "input", "output", "details",
                   "code", "logs", "cost", "id", "type", "init_timestamp", "end_timestamp",
                   "model", "prompt_tokens", "completion_tokens", "name", "error_type",
                   "agent_id"]
AGNOST_FIELDS = ["args", "metadata", "result", "checkpoints", "primitive_name",
                 "primitive_type", "event_id", "parent_id", "timestamp", "latency", "success"]

# -- headers and query parameters ----------------------------------------------------

content_types = st.sampled_from([
    None, "application/json", "application/json; charset=utf-8", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/json; charset=latin-1", "application/octet-stream", "*/*", "garbage"])
# Header values travel as latin-1 text.
header_texts = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                     blacklist_characters="\x7f"), max_size=40)
forwarded_for = st.one_of(st.none(), header_texts, st.sampled_from([
    "1.2.3.4", "1.2.3.4, 5.6.7.8", "::1", "not an address", "", ",,,", "999.999.999.999",
    "1.2.3.4, " * 50]))
query_values = st.one_of(
    st.integers(-10**20, 10**20).map(str), st.floats().map(str), texts, iso_times,
    st.sampled_from(["", "0", "-1", "200", "201", "1e3", "NaN", "inf", "active", "completed",
                     "error", "json", "csv", "CSV", "%ff", "%00", "%ed%a0%80", "\x00",
                     "2026-02-30T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]))
query_names = st.sampled_from(["limit", "offset", "status", "agent_name", "from", "to",
                               "format", "x"])
queries = st.lists(st.tuples(query_names, query_values), max_size=5)


# -- what every answer must be -------------------------------------------------------

def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def strict_json(data):
    """Parse ``data`` as strict RFC 8259 JSON: UTF-8, no NaN or Infinity (written or
    overflowing a double), no lone surrogates."""
    text = data.decode("utf-8")  # strict: raw surrogates or other non-UTF-8 fail
    value = json.loads(text, parse_constant=_refuse_constant,
                       parse_float=lambda number: _finite(float(number), number))
    _check_strings(value)
    return value


def _check_strings(value):
    """A lone surrogate escape decodes to a str that is not UTF-8."""
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            value.encode("utf-8")


def _finite(value, text):
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} overflows a double")
    return value


def check_answer(status, content_type, data, csv_allowed=False):
    """No 5xx; a JSON body (strict) unless a CSV export; errors as {"error": text}.
    Returns the parsed body (None for CSV or an empty body)."""
    assert status < 500, (status, data[:500])
    if status == 204:  # No Content (a delete): no body and no type to claim
        assert (data, content_type) == (b"", ""), (content_type, data[:200])
        return None
    if csv_allowed and status == 200 and content_type.startswith("text/csv"):
        data.decode("utf-8")
        return None
    assert content_type.split(";")[0] == "application/json", (status, content_type, data[:200])
    body = strict_json(data)
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return body
