"""The token buckets of an event, defined once.

``tokens_in`` is every input token, cached ones included (as OpenTelemetry's
``gen_ai.usage.input_tokens``); ``cache_read_tokens`` and ``cache_write_tokens``
are the parts of it read from and written to a prompt cache. ``tokens_out`` is
every output token; ``reasoning_tokens`` is the part of it spent on reasoning.
So the input billed at the full price is ``tokens_in - cache_read_tokens -
cache_write_tokens``, and no token is counted twice. A bucket that is absent
counts as 0.
"""
from typing import NamedTuple

BUCKETS = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens",
           "reasoning_tokens")
# Each whole and the buckets that are parts of it (Usage.fits checks the same).
PARTS = {"tokens_in": ("cache_read_tokens", "cache_write_tokens"),
         "tokens_out": ("reasoning_tokens",)}


class Usage(NamedTuple):
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def of(cls, record):
        """The usage of an event (a mapping with the BUCKETS; None counts as 0)."""
        return cls(record["tokens_in"] or 0, record["tokens_out"] or 0,
                   record["cache_read_tokens"] or 0, record["cache_write_tokens"] or 0,
                   record["reasoning_tokens"] or 0)

    def fits(self):
        """No bucket negative, and the parts within their wholes."""
        return (min(self) >= 0 and self.reasoning_tokens <= self.tokens_out
                and self.cache_read_tokens + self.cache_write_tokens <= self.tokens_in)


def problem(tokens_in, tokens_out, cache_read_tokens, cache_write_tokens, reasoning_tokens):
    """``"field: problem"`` when the buckets are negative or do not fit in one
    another, else None."""
    if cache_read_tokens is None and cache_write_tokens is None and reasoning_tokens is None:
        if (tokens_in or 0) >= 0 and (tokens_out or 0) >= 0:  # most events: nothing to fit
            return None
    given = dict(zip(BUCKETS, (tokens_in, tokens_out, cache_read_tokens, cache_write_tokens,
                               reasoning_tokens)))
    usage = Usage(*(value or 0 for value in given.values()))
    if usage.fits():
        return None
    for bucket, value in given.items():
        if value is not None and value < 0:
            return f"{bucket}: must not be negative"
    for part, whole in (("cache_read_tokens", "tokens_in"), ("cache_write_tokens", "tokens_in"),
                        ("reasoning_tokens", "tokens_out")):
        if getattr(usage, part) > getattr(usage, whole):
            return (f"{part}: {getattr(usage, part)} is more than {whole} "
                    f"({getattr(usage, whole)}), which includes it")
    cached = usage.cache_read_tokens + usage.cache_write_tokens
    return (f"cache_write_tokens: cache_read_tokens + cache_write_tokens ({cached}) is more "
            f"than tokens_in ({usage.tokens_in}), which includes both")
