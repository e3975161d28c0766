"""A price -> the cost of a usage, with genai-prices' own arithmetic.

A price is a genai-prices ``ModelPrice`` (USD per million tokens of each bucket,
perhaps a price per request). genai-prices computes a cost with decimal
arithmetic, but spends ~150 µs on each call finding which buckets are priced;
the ingest path prices every event. A flat price is linear in the buckets, so
:class:`Rate` asks genai-prices once for the cost of a million tokens of each
bucket (and of a request with no tokens) and then only multiplies and adds, in
exact decimals: the same result, in a few microseconds. A tiered price is flat
once the tier is known (genai-prices' rule: the whole usage pays the rate of
the highest tier whose start the input tokens pass), so it keeps one flat Rate
per tier.
"""
from decimal import localcontext

import genai_prices
from genai_prices.types import ModelPrice, TieredPrices

from .money import PRECISION
from .tokens import Usage

MILLION = 10**6
# One million tokens of each bucket alone (a cache read is also an input token, a
# reasoning token also an output one).
UNIT_USAGES = {
    "input": Usage(tokens_in=MILLION),
    "cache_read": Usage(tokens_in=MILLION, cache_read_tokens=MILLION),
    "cache_write": Usage(tokens_in=MILLION, cache_write_tokens=MILLION),
    "output": Usage(tokens_out=MILLION),
    "reasoning": Usage(tokens_out=MILLION, reasoning_tokens=MILLION),
}


def genai_usage(usage):
    return genai_prices.Usage(
        input_tokens=usage.tokens_in, cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens, output_tokens=usage.tokens_out,
        output_reasoning_tokens=usage.reasoning_tokens)


class Rate:
    """The cost function of one price. ``cost`` is None when genai-prices cannot
    price the usage (the event is then unpriced, never priced at zero)."""

    def __init__(self, model_price):
        self.model_price = model_price
        self.per_million = None
        self.tiered = {key: value for key, value in vars(model_price).items()
                       if isinstance(value, TieredPrices)}
        self.flat_by_tier = {}  # the tier passed by each tiered price -> Rate
        if not self.tiered:
            base = self.genai_cost(Usage())
            units = {name: self.genai_cost(usage) for name, usage in UNIT_USAGES.items()}
            if base is not None and None not in units.values():
                self.base = base
                self.per_million = {name: cost - base for name, cost in units.items()}

    def flat_at(self, input_tokens):
        """The flat Rate a tiered price comes to for this many input tokens."""
        passed = tuple(sum(input_tokens > tier.start for tier in prices.tiers)
                       for prices in self.tiered.values())
        rate = self.flat_by_tier.get(passed)
        if rate is None:
            flat = {key: prices.tiers[count - 1].price if count else prices.base
                    for (key, prices), count in zip(self.tiered.items(), passed)}
            rate = Rate(ModelPrice(**{**vars(self.model_price), **flat}))
            self.flat_by_tier[passed] = rate
        return rate

    def genai_cost(self, usage):
        try:
            return self.model_price.calc_price(genai_usage(usage))["total_price"]
        except ValueError:  # usage the price cannot split into its buckets
            return None

    def cost(self, usage):
        """The cost in USD (a Decimal) of a usage whose buckets fit (tokens.problem)."""
        if self.tiered:
            return self.flat_at(usage.tokens_in).cost(usage)
        if self.per_million is None:
            return self.genai_cost(usage)
        per = self.per_million
        with localcontext() as context:
            context.prec = PRECISION
            tokens = ((usage.tokens_in - usage.cache_read_tokens - usage.cache_write_tokens)
                      * per["input"] + usage.cache_read_tokens * per["cache_read"]
                      + usage.cache_write_tokens * per["cache_write"]
                      + (usage.tokens_out - usage.reasoning_tokens) * per["output"]
                      + usage.reasoning_tokens * per["reasoning"])
            return self.base + tokens / MILLION


def flat_price(input, output, cached_input=None, cache_write=None):
    """A ModelPrice from USD per million tokens (Decimals). A bucket without its own
    price is billed as plain input (genai-prices' rule for an unpriced bucket)."""
    return ModelPrice(input_mtok=input, output_mtok=output, cache_read_mtok=cached_input,
                      cache_write_mtok=cache_write)


def shown(value):
    """A price as JSON: a number, or for a tiered one
    ``{"base", "tiers": [{"start", "price"}]}``."""
    if value is None:
        return None
    if isinstance(value, TieredPrices):
        return {"base": float(value.base), "tiers": [
            {"start": tier.start, "price": float(tier.price)} for tier in value.tiers]}
    return float(value)


def displayed(model_price):
    """The four prices ``/pricing`` shows, USD per million tokens."""
    return {"input": shown(model_price.input_mtok),
            "cached_input": shown(model_price.cache_read_mtok),
            "cache_write": shown(model_price.cache_write_mtok),
            "output": shown(model_price.output_mtok)}

