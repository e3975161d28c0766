"""The prices genai-prices ships with the pinned version (setup.cfg): looked up by
model name (and provider, which helps to match), at the event's own time, so an
event keeps the price of its day. Nothing is ever downloaded: genai-prices' own
updater is never started."""
import functools
from datetime import timedelta

import genai_prices
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import ModelPrice

from ..timestamps import EPOCH
from .rates import Rate

SOURCE = f"genai-prices {genai_prices.__version__}"
# Model names are client data, and genai-prices caches each name it is asked
# about: names are looked up at most this many at a time, then forgotten.
LOOKUPS_KEPT = 4096
MAX_PREFIXES = 2  # of a name, taken off one at a time to find it (see model_info)


class Lookups:
    """genai-prices' snapshot, asked afresh after LOOKUPS_KEPT names (a new one
    starts with empty caches), so that memory stays bounded whatever names arrive."""

    def __init__(self):
        self.snapshot, self.asked = None, 0

    def find(self, model, provider_id):
        if self.snapshot is None or self.asked >= LOOKUPS_KEPT:
            self.snapshot = DataSnapshot(providers=get_snapshot().providers,
                                         from_auto_update=False)
            self.asked = 0
        self.asked += 1
        return self.snapshot.find_provider_model(model, None, provider_id, None)[1]


_lookups = Lookups()


@functools.lru_cache(maxsize=LOOKUPS_KEPT)
def model_info(model, provider):
    """genai-prices' model for a name as events carry it, or None if it has none.
    The provider is tried first when given; a provider it does not know is ignored.
    A name it does not know in LiteLLM's ``provider/model`` form (``openai/gpt-4o-mini``,
    as Google ADK's LiteLlm reports it; ``openrouter/openai/gpt-4o``) is looked up
    again without its prefix, the prefix tried as the provider after the one given."""
    hints = (provider,) if provider else ()
    for _ in range(MAX_PREFIXES + 1):
        for provider_id in (*hints, None):
            try:
                return _lookups.find(model, provider_id)
            except LookupError:
                continue
        prefix, _, model = model.partition("/")
        if not model:
            return None
        hints += (prefix,)
    return None


_rates = {}  # id(ModelPrice) -> (ModelPrice, Rate): the catalog's prices live as long as it


def rate_at(model, provider, ts):
    """The catalog's Rate for a model at a time (epoch ms), or None."""
    info = model_info(model, provider)
    if info is None:
        return None
    # One price for all time (most models) is what get_prices returns whatever the
    # time: the datetime it needs is not built.
    model_price = (info.prices if isinstance(info.prices, ModelPrice)
                   else info.get_prices(EPOCH + timedelta(milliseconds=ts)))
    kept = _rates.get(id(model_price))
    if kept is None:
        kept = _rates[id(model_price)] = (model_price, Rate(model_price))
    return kept[1]
