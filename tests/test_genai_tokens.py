"""Which of a span's token attributes fill which bucket (genai.tokens), against the
rule written out here: for each bucket, its spellings in the order the README's
mapping table gives them, the first whose value is a count (a whole number from 0
to 10**12, an integral float included) wins and is taken out of the attributes;
every other attribute stays, for the metadata. Then cached input and reasoning
tokens reported beside their whole, rather than inside it, are added to it."""
from hypothesis import given, strategies as st

from agentlens.ingest.formats import genai

SPELLINGS = {
    "tokens_in": ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                  "llm.token_count.prompt"],
    "tokens_out": ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                   "llm.token_count.completion"],
    "cache_read_tokens": ["gen_ai.usage.cache_read.input_tokens",
                          "gen_ai.usage.cache_read_input_tokens",
                          "llm.token_count.prompt_details.cache_read"],
    "cache_write_tokens": ["gen_ai.usage.cache_creation.input_tokens",
                           "gen_ai.usage.cache_creation_input_tokens",
                           "llm.token_count.prompt_details.cache_write"],
    "reasoning_tokens": ["gen_ai.usage.reasoning.output_tokens",
                         "gen_ai.usage.reasoning_tokens",
                         "llm.token_count.completion_details.reasoning"],
}
OTHERS = ["gen_ai.request.model", "llm.token_count.total", "gen_ai.usage.input_tokens.extra"]

values = st.one_of(
    st.integers(min_value=0, max_value=2000), st.integers(min_value=-5, max_value=-1),
    st.just(10**12), st.just(10**12 + 1), st.floats(min_value=0, max_value=100).map(round).map(float),
    st.just(2.5), st.booleans(), st.text(max_size=3), st.none())


def is_count(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return type(value) is int and 0 <= value <= 10**12


@given(st.dictionaries(st.sampled_from([k for keys in SPELLINGS.values() for k in keys] + OTHERS),
                       values, max_size=8))
def test_the_first_spelling_that_holds_a_count_fills_each_bucket(attrs):
    expected, left = {}, dict(attrs)
    for bucket, spellings in SPELLINGS.items():
        for key in spellings:
            if key in attrs and is_count(attrs[key]):
                expected[bucket] = int(attrs[key])
                del left[key]
                break
    cached = expected.get("cache_read_tokens", 0) + expected.get("cache_write_tokens", 0)
    if cached > expected.get("tokens_in", 0):
        expected["tokens_in"] = expected.get("tokens_in", 0) + cached
    if expected.get("reasoning_tokens", 0) > expected.get("tokens_out", 0):
        expected["tokens_out"] = expected.get("tokens_out", 0) + expected["reasoning_tokens"]

    given_attrs = dict(attrs)
    assert genai.tokens(given_attrs) == expected
    assert given_attrs == left
