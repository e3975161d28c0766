"""What pricing adds to the ingest path: ``price_events`` on parsed batches, in-process.

    python bench/pricing.py [--batches 300]

For batches of 100 llm_call events of one model (a flat price, a flat price with
cached and reasoning tokens, a tiered price, a model without a price, no model),
prints the best of 5 runs in µs per event, the per-batch read of
``pricing_version`` included, next to ``parse_batch`` of the same batch; and
genai-prices' own ``calc_price`` for one event, which pricing avoids calling.
"""
import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import genai_prices  # noqa: E402

from agentlens import create_app  # noqa: E402
from agentlens.db import get_db  # noqa: E402
from agentlens.ingest.formats import agentlens as wire  # noqa: E402
from agentlens.pricing.book import price_events  # noqa: E402

CASES = {
    "gpt-4o (flat)": {"model": "gpt-4o"},
    "gpt-4o, cached and reasoning tokens": {"model": "gpt-4o", "cache_read_tokens": 100,
                                            "reasoning_tokens": 10},
    "gemini-2.5-pro (tiered)": {"model": "gemini-2.5-pro"},
    "a model without a price": {"model": "my-finetune"},
    "no model": {},
}


def best_of(runs, batches, work):
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(batches):
            work()
        best = min(best, (time.perf_counter() - started) / batches)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    app = create_app({"DATABASE": tempfile.mktemp(suffix=".sqlite3"), "SECRET_KEY": "bench" * 8,
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        conn = get_db()
        for label, fields in CASES.items():
            body = {"events": [{"event_type": "llm_call", "session_id": "s", "tokens_in": 512 + i,
                                "tokens_out": 128, "timestamp": "2026-02-14T10:30:00.123Z",
                                **fields} for i in range(100)]}
            events, _ = wire.parse_batch(body, max_batch=1000, max_field_bytes=1 << 20)
            price_events(conn, events)  # warm: the model looked up, its rate built
            pricing = best_of(5, args.batches, lambda: price_events(conn, events))
            parsing = best_of(5, args.batches // 3, lambda: wire.parse_batch(
                body, max_batch=1000, max_field_bytes=1 << 20))
            print(f"{label:40} price_events {pricing * 1e4:6.1f} µs/event   "
                  f"parse_batch {parsing * 1e4:6.1f} µs/event")
    usage = genai_prices.Usage(input_tokens=512, output_tokens=128)
    moment = datetime(2026, 2, 14, tzinfo=timezone.utc)
    calc = best_of(5, 1000, lambda: genai_prices.calc_price(usage, "gpt-4o",
                                                            genai_request_timestamp=moment))
    print(f"{'genai_prices.calc_price, one event':40} {calc * 1e6:6.1f} µs")


if __name__ == "__main__":
    main()
