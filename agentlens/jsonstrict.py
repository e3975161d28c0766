"""The one JSON module: every body read and every JSON value stored or sent goes through it.

JSON here is strict RFC 8259 text: no NaN or Infinity (also none that overflows
a double, like 1e999), no lone surrogates, and values nested at most
``MAX_DEPTH`` deep. orjson enforces all of that at C speed. When it refuses a
body, the body is read again with the standard library, which marks each bad
number with ``BAD_NUMBER`` instead of failing, so that one bad value costs
only the event that carries it: :func:`dumps` then refuses that value,
naming its field. Lone surrogates and excessive depth are refused by
:func:`dumps` the same way.
"""
import json

import orjson
from orjson import Fragment  # noqa: F401 -- already-serialised JSON inside a document

# Values nested deeper are refused (orjson's own limit for writing JSON).
MAX_DEPTH = 254
# orjson reads integers beyond 64 bits as floats; the standard library keeps them exact.
# A body with a run of 19 digits takes that path: found by mapping digits to "1",
# opening brackets to "2" (for the depth, below) and everything else to "0" (a C
# pass, ~0.5 us per KB, where a regex takes ~8 us).
MARKS = bytes(49 if 48 <= byte <= 57 else 50 if byte in b"[{" else 48 for byte in range(256))
LONG_RUN = b"1" * 19


SURROGATE = "not valid Unicode text (lone surrogate)"
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


class JSONProblem(ValueError):
    """A JSON text or value that strict JSON cannot carry; the message says why."""


class _BadNumber:
    """Where a body held NaN, Infinity or a number that overflows a double."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _bad_number(text):
    return _BadNumber(text)


def _number(text):
    value = float(text)
    return _BadNumber(text) if value in (float("inf"), float("-inf")) else value


def loads(data):
    """Parse a request body (bytes or str). Bad numbers become markers that
    :func:`dumps` refuses; JSONProblem when the text is not JSON at all."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    value = _fast_loads(data, data.translate(MARKS))
    return _slow_loads(data) if value is _NOT_FAST else value


def loads_strict(text):
    """Parse a JSON text whose whole value must be strict JSON (one that :func:`dumps`
    writes); JSONProblem otherwise."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    marks = data.translate(MARKS)
    value = _fast_loads(data, marks)
    if value is _NOT_FAST:
        value = _slow_loads(data)
    # orjson refuses what strict JSON refuses, except nesting between MAX_DEPTH and
    # its own limit: only a text with that many brackets can be so deep.
    elif marks.count(b"2") < MAX_DEPTH:
        return value
    dump_bytes(value)
    return value


_NOT_FAST = object()


def _fast_loads(data, marks):
    """orjson's reading of bytes (``marks``: their translation by MARKS), or _NOT_FAST
    when the standard library must read them."""
    if LONG_RUN in marks:
        return _NOT_FAST
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "depth" in str(error):  # the same limit whichever Python reads it again
            raise JSONProblem(TOO_DEEP)
        return _NOT_FAST


def _slow_loads(data):
    try:
        return json.loads(data.decode("utf-8", "surrogatepass"),
                          parse_constant=_bad_number, parse_float=_number)
    except UnicodeDecodeError as error:
        raise JSONProblem(f"not UTF-8 text ({error.reason} at byte {error.start})")
    except RecursionError:
        raise JSONProblem(TOO_DEEP)
    except ValueError as error:
        raise JSONProblem(str(error))


def _refuse(value):
    if isinstance(value, _BadNumber):
        raise JSONProblem(f"{value.text} is not a finite number")
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value):
    """Compact JSON text of ``value``; JSONProblem if strict JSON cannot carry it."""
    return dump_bytes(value).decode()


def dump_bytes(value):
    try:
        return orjson.dumps(value, default=_refuse)
    except orjson.JSONEncodeError as error:
        if isinstance(error.__cause__, JSONProblem):
            raise error.__cause__
        message = str(error)
        if "surrogates" in message:
            raise JSONProblem(SURROGATE)
        if "Recursion" in message:
            raise JSONProblem(TOO_DEEP)
        if "64-bit" not in message:
            raise JSONProblem(message)
    return _dumps_with_long_integers(value)


def encode(value):
    """JSON text of a response built from stored values (see :func:`encode_bytes`)."""
    return encode_bytes(value).decode()


def encode_bytes(value):
    """UTF-8 JSON of a response built from stored values. They are strict already, but
    wrapping one nested to the limit (an event in a list in an object) goes past
    orjson's depth: the standard library writes those few."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _dumps_with_long_integers(value):
    """The standard library writes what orjson refuses only for an integer beyond 64 bits."""
    if _depth(value) > MAX_DEPTH:
        raise JSONProblem(TOO_DEEP)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=_refuse)
        return text.encode()
    except UnicodeEncodeError:
        raise JSONProblem(SURROGATE)
    except JSONProblem:
        raise
    except ValueError as error:
        raise JSONProblem(str(error))


def _depth(value):
    deepest, pending = 0, [(value, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            deepest = max(deepest, depth)
            continue
        depth += 1
        deepest = max(deepest, depth)
        pending.extend((item, depth) for item in value)
    return deepest
