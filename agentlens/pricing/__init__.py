"""What an event cost: prices from ``genai-prices`` plus overrides -> integer nano-dollars.

- ``tokens.py``: the token buckets (what ``tokens_in`` and ``tokens_out`` include)
  and the usage of one event;
- ``money.py``: USD <-> integer nano-dollars, exact (decimal arithmetic);
- ``rates.py``: a price in USD per million tokens of each bucket -> the cost of a usage;
- ``catalog.py``: the prices ``genai-prices`` ships (pinned; never downloaded at run time);
- ``overrides.py``: prices set through ``/pricing`` (a table) or ``AGENTLENS_PRICES``
  (a JSON file), which win over the catalog;
- ``book.py``: all of it as one price book, kept per process and reloaded when the
  overrides change; ``price_events`` prices normalised events before ``store_batch``;
- ``reprice.py``: past events priced again with today's prices, on request.

No HTTP here: the blueprint is ``api/pricing.py``.
"""
