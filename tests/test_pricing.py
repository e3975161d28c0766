"""The pricing package called directly: the cost of one event, in nano-dollars.

Every expected cost is worked out here by hand from the providers' published
prices per million tokens (USD), which genai-prices 0.2.3 carries:
OpenAI gpt-4o $2.50 input, $1.25 cached input, $10 output; gpt-4o-mini $0.15 /
$0.075 / $0.60; o3 $10 / $40 until 2025-06-09 and $2 / $8 from 2025-06-10;
Anthropic claude-sonnet-4 $3 input, $0.30 cache read, $3.75 cache write, $15
output; Google gemini-2.5-pro $1.25 / $0.125 / $10 up to 200k input tokens and
$2.50 / $0.25 / $15 above; Groq llama-3.3-70b-versatile $0.59 / $0.79.
A price of $P per million tokens is P x 1000 nano-dollars per token.
"""
from datetime import datetime, timezone
from decimal import Decimal

import genai_prices
import pytest

from agentlens.pricing import catalog, overrides, tokens
from agentlens.pricing.book import PriceBook
from agentlens.pricing.money import nanos, usd, usd_text

CATALOG = "genai-prices 0.2.3"


def ms(text):
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def event(model, tokens_in=None, tokens_out=None, *, cache_read=None, cache_write=None,
          reasoning=None, provider=None, at="2026-03-01T12:00:00"):
    return {"model": model, "provider": provider, "ts": ms(at), "tokens_in": tokens_in,
            "tokens_out": tokens_out, "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write, "reasoning_tokens": reasoning}


def test_the_pinned_version_is_the_one_installed():
    assert genai_prices.__version__ == "0.2.3"
    assert catalog.SOURCE == CATALOG


@pytest.mark.parametrize("priced, expected_nanos", [
    # gpt-4o: 1000 in of which 400 cached, 500 out of which 200 reasoning (billed as output):
    # 600 x 2.5 + 400 x 1.25 + 500 x 10 = 1500 + 500 + 5000 = 7000 µ$
    (event("gpt-4o", 1000, 500, cache_read=400, reasoning=200), 7_000_000),
    # gpt-4o-mini: 2000 in of which 1000 cached, 300 out: 150 + 75 + 180 = 405 µ$
    (event("gpt-4o-mini", 2000, 300, cache_read=1000), 405_000),
    # claude-sonnet-4: 10,000 in = 2000 plain + 6000 cache reads + 2000 cache writes,
    # 1000 out of which 400 thinking: 6000 + 1800 + 7500 + 15,000 = 30,300 µ$
    (event("claude-sonnet-4", 10_000, 1000, cache_read=6000, cache_write=2000, reasoning=400),
     30_300_000),
    # the dated id of the same model, and its provider named
    (event("claude-sonnet-4-20250514", 10_000, 1000, cache_read=6000, cache_write=2000,
           provider="anthropic"), 30_300_000),
    # one cached token of gpt-4o-mini: 0.075 µ$
    (event("gpt-4o-mini", 1, 0, cache_read=1), 75),
    # only input, or only output, counted
    (event("gpt-4o", 1_000_000), 2_500_000_000),
    (event("gpt-4o", None, 3), 30_000),
    # no token at all is no cost, not an unknown one
    (event("gpt-4o", 0, 0), 0),
])
def test_published_prices(priced, expected_nanos):
    assert PriceBook().cost(priced) == (expected_nanos, CATALOG)


def test_the_shortcut_gives_what_calc_price_gives():
    """rates.Rate multiplies per-million costs it asked genai-prices once (per tier); for
    the same usage, genai-prices' own calc_price gives the same exact decimal."""
    for model, usage in [("gpt-4o", (1234, 567, 89, 0, 45)),
                         ("claude-sonnet-4", (98_765, 4321, 50_000, 7000, 100)),
                         ("gpt-4o-mini", (3, 1, 1, 0, 0)),
                         ("gemini-2.5-pro", (200_000, 10, 5, 0, 0)),      # the lower tier
                         ("gemini-2.5-pro", (200_001, 10, 7, 0, 3))]:     # the higher one
        tokens_in, tokens_out, cache_read, cache_write, reasoning = usage
        computed = PriceBook().cost(event(model, tokens_in, tokens_out, cache_read=cache_read,
                                          cache_write=cache_write, reasoning=reasoning))
        reference = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=tokens_in, output_tokens=tokens_out,
                               cache_read_tokens=cache_read, cache_write_tokens=cache_write,
                               output_reasoning_tokens=reasoning),
            model, genai_request_timestamp=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
        assert computed == (nanos(reference.total_price), CATALOG), model


def test_every_price_genai_prices_ships_costs_what_its_calc_price_says():
    """The shortcut holds for all of the pinned catalog: flat, tiered, per request, and
    prices that cannot split a usage (then both refuse, and the event is unpriced)."""
    from genai_prices.data_snapshot import get_snapshot

    from agentlens.pricing.rates import Rate, genai_usage
    from agentlens.pricing.tokens import Usage

    usages = [Usage(1000, 500, 200, 100, 50), Usage(300_000, 2000, 1000), Usage(), Usage(5)]
    checked = 0
    for provider in get_snapshot().providers:
        for model in provider.models:
            for price in ([model.prices] if not isinstance(model.prices, list)
                          else [conditional.prices for conditional in model.prices]):
                rate = Rate(price)
                for usage in usages:
                    try:
                        expected = nanos(price.calc_price(genai_usage(usage))["total_price"])
                    except ValueError:
                        expected = None
                    assert rate.nanos(usage) == expected, (provider.id, model.id, usage)
                checked += 1
    assert checked > 2000


def test_an_event_keeps_the_price_of_its_day():
    # o3: 1000 in and 1000 out were 1000 x 10 + 1000 x 40 = 50,000 µ$ before the cut,
    # 1000 x 2 + 1000 x 8 = 10,000 µ$ from 2025-06-10 (UTC)
    book = PriceBook()
    assert book.cost(event("o3", 1000, 1000, at="2025-06-09T23:59:59")) == (50_000_000, CATALOG)
    assert book.cost(event("o3", 1000, 1000, at="2025-06-10T00:00:00")) == (10_000_000, CATALOG)


def test_a_tiered_price_takes_the_tier_of_the_input():
    book = PriceBook()
    # 100,000 in, 1000 out, under 200k: 100,000 x 1.25 + 1000 x 10 = 135,000 µ$
    assert book.cost(event("gemini-2.5-pro", 100_000, 1000)) == (135_000_000, CATALOG)
    # 300,000 in (100,000 cached), 2000 out, over 200k: every token at the higher rate,
    # 200,000 x 2.5 + 100,000 x 0.25 + 2000 x 15 = 555,000 µ$
    assert book.cost(event("gemini-2.5-pro", 300_000, 2000, cache_read=100_000)) == (
        555_000_000, CATALOG)
    # exactly 200,000 is not above the tier's start: 200,000 x 1.25 = 250,000 µ$
    assert book.cost(event("gemini-2.5-pro", 200_000, 0)) == (250_000_000, CATALOG)


def test_the_provider_helps_to_match_a_model():
    book = PriceBook()
    assert book.cost(event("llama-3.3-70b-versatile", 1000, 1000)) == (None, None)
    # Groq: 1000 x 0.59 + 1000 x 0.79 = 1380 µ$
    assert book.cost(event("llama-3.3-70b-versatile", 1000, 1000, provider="groq")) == (
        1_380_000, CATALOG)
    # a provider genai-prices does not know is no hindrance
    assert book.cost(event("gpt-4o", 0, 100, provider="my-gateway")) == (1_000_000, CATALOG)


def test_a_provider_prefixed_name_is_priced_as_the_model_it_names():
    """LiteLLM's and OpenRouter's names: the prefix is the provider, or only a prefix.
    gpt-4o-mini: 1000 x 0.15 + 1000 x 0.60 = 750 µ$; claude-sonnet-4: 1000 x 3 + 1000 x 15."""
    book = PriceBook()
    for model in ("openai/gpt-4o-mini", "openrouter/openai/gpt-4o-mini", "my-proxy/gpt-4o-mini"):
        assert book.cost(event(model, 1000, 1000)) == (750_000, CATALOG), model
    assert book.cost(event("anthropic/claude-sonnet-4", 1000, 1000)) == (18_000_000, CATALOG)
    assert book.cost(event("openai/my-finetune", 10, 10)) == (None, None)
    # Groq: 1000 x 0.59 + 1000 x 0.79, found by the prefix beside a provider it does not know
    assert book.cost(event("groq/llama-3.3-70b-versatile", 1000, 1000,
                           provider="gcp.vertex.agent")) == (1_380_000, CATALOG)
    assert book.cost(event("a/b/c/gpt-4o-mini", 10, 10)) == (None, None)  # two prefixes at most
    assert book.cost(event("/" * 100_000, 10, 10)) == (None, None)


@pytest.mark.parametrize("unpriced", [
    event("my-finetune", 10, 10),          # a model nobody prices
    event(None, 10, 10),                   # no model
    event("gpt-4o"),                       # no token count at all
    event("gpt-4o", 10, 10, cache_read=11),  # buckets that do not fit (an amended event)
])
def test_no_price_is_none_not_zero(unpriced):
    assert PriceBook().cost(unpriced) == (None, None)


# --- token buckets ------------------------------------------------------------

INCLUDES = "which includes it"


@pytest.mark.parametrize("buckets, problem", [
    ((10, 5, 4, 6, 5), None),                       # 4 + 6 cached of 10 in, 5 of 5 out
    ((None, None, None, None, None), None),
    ((-1, 0, None, None, None), "tokens_in: must not be negative"),
    ((10, 5, -1, None, None), "cache_read_tokens: must not be negative"),
    ((10, 5, 11, None, None), "cache_read_tokens: 11 is more than tokens_in (10), " + INCLUDES),
    ((None, 5, 1, None, None), "cache_read_tokens: 1 is more than tokens_in (0), " + INCLUDES),
    ((10, 5, None, 11, None), "cache_write_tokens: 11 is more than tokens_in (10), " + INCLUDES),
    ((10, 5, 6, 5, None), "cache_write_tokens: cache_read_tokens + cache_write_tokens (11) is more "
                          "than tokens_in (10), which includes both"),
    ((10, 5, None, None, 6), "reasoning_tokens: 6 is more than tokens_out (5), which includes it"),
])
def test_token_bucket_problems_name_the_field(buckets, problem):
    assert tokens.problem(*buckets) == problem


# --- money ---------------------------------------------------------------------

@pytest.mark.parametrize("nano_dollars, shown, text", [
    (0, 0.0, "$0.000000"),
    (499, 0.0, "$0.000000"),
    (500, 0.000001, "$0.000001"),          # half a micro-dollar rounds up
    (1_500, 0.000002, "$0.000002"),
    (2_500, 0.000003, "$0.000003"),        # half up, not to even
    (5_411_700, 0.005412, "$0.005412"),
    (123_456_789_012, 123.456789, "$123.456789"),
])
def test_usd_is_rounded_half_up_to_6_places(nano_dollars, shown, text):
    assert usd(nano_dollars) == shown
    assert usd_text(nano_dollars) == text


def test_usd_to_nanos_is_exact():
    assert nanos(0.1) == 100_000_000           # the decimal 0.1, not its binary neighbour
    assert nanos(Decimal("0.0000000005")) == 1  # half a nano-dollar rounds up
    assert nanos(Decimal("0.0000000004999")) == 0
    assert nanos(10**6) == 10**15
    assert usd(None) is None


# --- overrides -----------------------------------------------------------------

def override(model, valid_from=None, origin=overrides.API, **prices):
    body = {"input": 1, "output": 2, **prices}
    if valid_from is not None:
        body["valid_from"] = valid_from
    return overrides.parse(model, body, origin)


def test_an_override_without_valid_from_holds_at_every_date():
    # my-model at $1 in / $2 out: 1000 x 1 + 500 x 2 = 2000 µ$, then and now
    book = PriceBook(table_overrides=[override("my-model")])
    for at in ("1999-01-01T00:00:00", "2026-03-01T12:00:00"):
        assert book.cost(event("my-model", 1000, 500, at=at)) == (2_000_000, "override")


def test_an_override_with_valid_from_applies_from_that_time_on():
    # gpt-4o from 2026-01-01 at $5 in, $0.50 cached, $20 out; before, genai-prices' price
    book = PriceBook(table_overrides=[
        override("gpt-4o", "2026-01-01T00:00:00Z", input=5, cached_input=0.5, output=20)])
    # 1000 in (200 cached), 100 out: 800 x 5 + 200 x 0.5 + 100 x 20 = 6100 µ$ ...
    assert book.cost(event("gpt-4o", 1000, 100, cache_read=200, at="2026-01-01T00:00:00")) == (
        6_100_000, "override")
    # ... and at list price the moment before: 800 x 2.5 + 200 x 1.25 + 100 x 10 = 3250 µ$
    assert book.cost(event("gpt-4o", 1000, 100, cache_read=200, at="2025-12-31T23:59:59.999")) == (
        3_250_000, CATALOG)


def test_later_overrides_take_over_and_a_bucket_without_a_price_is_input():
    book = PriceBook(table_overrides=[
        override("m", input=1, output=1),
        override("m", "2026-02-01T00:00:00Z", input=2, output=2),
        override("m", "2026-03-01T00:00:00Z", input=3, output=3, cache_write=0.5),
    ])
    # 100 in of which 40 cache writes, 10 out
    assert book.cost(event("m", 100, 10, cache_write=40, at="2026-01-15T00:00:00")) == (
        110_000, "override")            # 100 x 1 + 10 x 1: a cache write is plain input
    assert book.cost(event("m", 100, 10, cache_write=40, at="2026-02-15T00:00:00")) == (
        220_000, "override")
    assert book.cost(event("m", 100, 10, cache_write=40, at="2026-03-15T00:00:00")) == (
        230_000, "override")            # 60 x 3 + 40 x 0.5 + 10 x 3


def test_an_override_set_through_the_api_wins_over_the_files_for_the_same_date():
    book = PriceBook(file_overrides=[override("m", origin=overrides.FILE, input=7, output=7)],
                     table_overrides=[override("m", input=1, output=1)])
    assert book.cost(event("m", 10, 0)) == (10_000, "override")
    assert [o.origin for _, o, _ in book.overrides["m"]] == [overrides.API]


def test_half_a_nano_dollar_rounds_up_once_per_event():
    # $0.0000005 per million tokens is 0.0005 nano-dollar a token: 1000 tokens are half a
    # nano-dollar -> 1; 999 -> 0
    book = PriceBook(table_overrides=[override("tiny", input=0.0000005, output=0)])
    assert book.cost(event("tiny", 1000, 0)) == (1, "override")
    assert book.cost(event("tiny", 999, 0)) == (0, "override")


@pytest.mark.parametrize("body, field", [
    ({"output": 1}, "input"),
    ({"input": 1}, "output"),
    ({"input": -1, "output": 1}, "input"),
    ({"input": "1", "output": 1}, "input"),
    ({"input": True, "output": 1}, "input"),
    ({"input": 1, "output": 1, "cached_input": -0.1}, "cached_input"),
    ({"input": 1, "output": 10**7}, "output"),
    ({"input": 1, "output": 1, "valid_from": "yesterday"}, "valid_from"),
    ({"input": 1, "output": 1, "cached": 0.5}, "cached"),     # misspelt: refused, not ignored
    ([1, 2], "body"),
])
def test_a_bad_override_names_its_field(body, field):
    with pytest.raises(Exception) as raised:
        overrides.parse("m", body)
    assert field in str(raised.value.normalized_messages()), raised.value


def test_the_prices_file(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text('{"my-model": {"input": 1.5, "output": 2},'
                    ' "other": [{"input": 1, "output": 1},'
                    '           {"input": 2, "output": 2, "valid_from": "2026-01-01"}]}')
    loaded = overrides.load_file(path)
    assert [(o.model, o.valid_from, o.input, o.origin) for o in loaded] == [
        ("my-model", None, Decimal("1.5"), "file"), ("other", None, Decimal("1"), "file"),
        ("other", ms("2026-01-01T00:00:00"), Decimal("2"), "file")]
    path.write_text('{"my-model": {"input": 1.5}, "x": {"input": 1, "output": 1}}')
    with pytest.raises(ValueError, match="my-model.output: Missing data for required field"):
        overrides.load_file(path)
    path.write_text('{"m": [{"input": 1, "output": 1}, {"input": -1, "output": 1}]}')
    with pytest.raises(ValueError, match=r"m\[1\].input"):
        overrides.load_file(path)
    path.write_text('{"x": 1}')
    with pytest.raises(ValueError, match="x: must be a JSON object of prices"):
        overrides.load_file(path)
    for text in ("[]", "{nope"):
        path.write_text(text)
        with pytest.raises(ValueError):
            overrides.load_file(path)
    with pytest.raises(ValueError):
        overrides.load_file(tmp_path / "missing.json")
