-- Each account's health score at the end of each day (UTC), per success-model version: the
-- account's trajectory, and what `tenure rescore` recomputes under a new version.
CREATE TABLE health_snapshots (
    account_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    day TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    band TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    pillars TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (account_id, model_version, day)
);
