"""A price -> the cost of a usage in nano-dollars, with genai-prices' own arithmetic.

A price is a genai-prices ``ModelPrice`` (USD per million tokens of each bucket,
perhaps a price per request). genai-prices computes a cost with decimal
arithmetic, but spends ~150 µs on each call finding which buckets are priced;
the ingest path prices every event. A flat price is linear in the buckets, so
:class:`Rate` asks genai-prices once for the cost of a million tokens of each
bucket (and of a request with no tokens), keeps them as nano-dollars per token
(exact: integers for every price with at most three decimals), and then only
multiplies and adds: the same result, in a few microseconds. A tiered price is
flat once the tier is known (genai-prices' rule: the whole usage pays the rate
of the highest tier whose start the input tokens pass), so it keeps one flat
Rate per tier.
"""
from decimal import ROUND_HALF_UP, localcontext

import genai_prices
from genai_prices.types import ModelPrice, TieredPrices

from ..rules import NANOS_PER_USD
from .money import PRECISION, nanos
from .tokens import Usage

MILLION = 10**6
# One million tokens of each bucket alone (a cache read is also an input token, a
# reasoning token also an output one), in the order of Rate.factors.
UNIT_USAGES = (
    Usage(tokens_in=MILLION),                                   # plain input
    Usage(tokens_in=MILLION, cache_read_tokens=MILLION),
    Usage(tokens_in=MILLION, cache_write_tokens=MILLION),
    Usage(tokens_out=MILLION),                                  # plain output
    Usage(tokens_out=MILLION, reasoning_tokens=MILLION),
)


def genai_usage(usage):
    return genai_prices.Usage(
        input_tokens=usage.tokens_in, cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens, output_tokens=usage.tokens_out,
        output_reasoning_tokens=usage.reasoning_tokens)


def weighted(usage, factors):
    """A call's price plus each bucket's tokens times its price per token."""
    per_call, plain_in, cache_read, cache_write, plain_out, reasoning = factors
    return (per_call
            + (usage.tokens_in - usage.cache_read_tokens - usage.cache_write_tokens) * plain_in
            + usage.cache_read_tokens * cache_read + usage.cache_write_tokens * cache_write
            + (usage.tokens_out - usage.reasoning_tokens) * plain_out
            + usage.reasoning_tokens * reasoning)


class Rate:
    """The cost function of one price. ``nanos`` is None when genai-prices cannot
    price the usage (the event is then unpriced, never priced at zero)."""

    def __init__(self, model_price):
        self.model_price = model_price
        self.factors = None  # nano-dollars per call and per token of each bucket
        self.tiered = {key: value for key, value in vars(model_price).items()
                       if isinstance(value, TieredPrices)}
        self.flat_by_tier = {}  # the tier passed by each tiered price -> Rate
        if not self.tiered:
            per_call = self.genai_cost(Usage())
            units = [self.genai_cost(usage) for usage in UNIT_USAGES]
            if per_call is not None and None not in units:
                with localcontext() as context:
                    context.prec = PRECISION
                    factors = [per_call * NANOS_PER_USD, *(
                        (cost - per_call) * NANOS_PER_USD / MILLION for cost in units)]
                if all(factor == factor.to_integral_value() for factor in factors):
                    factors = [int(factor) for factor in factors]  # integer arithmetic
                self.factors = factors

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
        """genai-prices' cost in USD (a Decimal), or None if it cannot price the usage."""
        try:
            return self.model_price.calc_price(genai_usage(usage))["total_price"]
        except ValueError:  # usage the price cannot split into its buckets
            return None

    def nanos(self, usage):
        """The cost in nano-dollars, rounded half up, of a usage whose buckets fit
        (tokens.Usage.fits)."""
        if self.tiered:
            return self.flat_at(usage.tokens_in).nanos(usage)
        if self.factors is None:
            cost = self.genai_cost(usage)
            return None if cost is None else nanos(cost)
        if isinstance(self.factors[0], int):
            return weighted(usage, self.factors)
        with localcontext() as context:
            context.prec = PRECISION
            return int(weighted(usage, self.factors).to_integral_value(ROUND_HALF_UP))


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

