from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from agentlens.timestamps import MAX_MS, MIN_MS, format_ms, parse_iso

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def by_datetime(ms):
    moment = EPOCH + timedelta(milliseconds=ms)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


@given(st.integers(MIN_MS, MAX_MS))
def test_any_time_is_written_as_datetime_writes_it_and_read_back_the_same(ms):
    assert format_ms(ms) == by_datetime(ms)
    assert parse_iso(format_ms(ms)) == ms


def test_edges_of_the_range_and_of_the_epoch():
    assert format_ms(MIN_MS) == "0001-01-01T00:00:00.000Z"
    assert format_ms(MAX_MS) == "9999-12-31T23:59:59.999Z"
    assert format_ms(-1) == "1969-12-31T23:59:59.999Z"
    assert format_ms(0) == "1970-01-01T00:00:00.000Z"
    assert format_ms(59_999) == "1970-01-01T00:00:59.999Z"
    assert format_ms(60_000) == "1970-01-01T00:01:00.000Z"
    assert format_ms(None) is None


def test_times_in_one_minute_differ_only_in_their_seconds():
    minute = 1_795_219_200_000
    assert [format_ms(minute + offset) for offset in (0, 1_001, 59_999)] == [
        "2026-11-21T00:00:00.000Z", "2026-11-21T00:00:01.001Z", "2026-11-21T00:00:59.999Z"]
