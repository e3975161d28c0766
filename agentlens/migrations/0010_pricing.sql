-- Price overrides set through PUT /pricing/<model> (agentlens/pricing/overrides.py).
-- Prices are USD per million tokens, kept as decimal text so that they stay exact.
-- valid_from is epoch ms; NULL means the override holds for every date.
CREATE TABLE price_overrides (
    model        TEXT NOT NULL,
    valid_from   INTEGER,
    input        TEXT NOT NULL,
    cached_input TEXT,
    cache_write  TEXT,
    output       TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- One override per model and date; NULL (every date) is keyed by a value below any time.
CREATE UNIQUE INDEX price_overrides_key
    ON price_overrides (model, coalesce(valid_from, -9223372036854775808));

-- Moved by every change to price_overrides: each process checks it once per batch
-- and reloads the overrides when it moved.
CREATE TABLE pricing_version (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
);
INSERT INTO pricing_version (one, version) VALUES (1, 0);
