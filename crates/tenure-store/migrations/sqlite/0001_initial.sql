-- Tenure operational store, initial schema (SQLite).
-- Timestamps are RFC 3339 text with the offset they were recorded in; dates are YYYY-MM-DD;
-- money is integer minor units beside an ISO 4217 currency. Every record is keyed by the
-- external id of the customer's own system, and `revision` counts the updates that changed it.

CREATE TABLE accounts (
    external_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    plan TEXT,
    industry TEXT,
    region TEXT,
    country TEXT,
    size_band TEXT,
    owner TEXT,
    parent TEXT,
    signed_up_at TEXT,
    executive_sponsor TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE contacts (
    external_id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    email TEXT,
    name TEXT,
    title TEXT,
    is_admin BOOLEAN NOT NULL,
    created_at TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX contacts_account_idx ON contacts (account_id);

CREATE TABLE subscriptions (
    external_id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    plan TEXT NOT NULL,
    seats BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    billing_interval TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT,
    term_months BIGINT NOT NULL,
    status TEXT NOT NULL,
    auto_renew BOOLEAN NOT NULL,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX subscriptions_account_idx ON subscriptions (account_id);

CREATE TABLE subscription_changes (
    external_id TEXT NOT NULL PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    change_kind TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    arr_delta_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    seats_delta BIGINT NOT NULL,
    reason TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX subscription_changes_account_idx ON subscription_changes (account_id);

CREATE TABLE tickets (
    external_id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    contact_id TEXT,
    subject TEXT,
    opened_at TEXT NOT NULL,
    resolved_at TEXT,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    csat BIGINT,
    category TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX tickets_account_idx ON tickets (account_id);

CREATE TABLE survey_responses (
    external_id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    contact_id TEXT,
    responded_at TEXT NOT NULL,
    survey TEXT NOT NULL,
    score BIGINT NOT NULL,
    comment TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX survey_responses_account_idx ON survey_responses (account_id);

CREATE TABLE activities (
    external_id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    activity_kind TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    csm TEXT,
    contact_id TEXT,
    responded_at TEXT,
    attended BOOLEAN,
    notes TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX activities_account_idx ON activities (account_id);

CREATE TABLE releases (
    external_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    released_at TEXT NOT NULL,
    features TEXT NOT NULL,
    notes TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE tasks (
    external_id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL,
    playbook TEXT,
    title TEXT NOT NULL,
    role TEXT NOT NULL,
    assignee TEXT,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    due_at TEXT,
    snoozed_until TEXT,
    completed_at TEXT,
    outcome TEXT,
    revision BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX tasks_account_idx ON tasks (account_id);

-- Every success-model version ever applied, with its source text and validated form.
CREATE TABLE model_versions (
    version TEXT NOT NULL PRIMARY KEY,
    source TEXT NOT NULL,
    model_json TEXT NOT NULL,
    first_applied_at TEXT NOT NULL
);

-- Each time a version was made current; the latest row is the current model.
CREATE TABLE model_applications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL REFERENCES model_versions (version),
    applied_at TEXT NOT NULL,
    applied_by TEXT
);

-- API tokens and write keys. Only a SHA-256 of each secret is kept: the secret itself is
-- shown once, when it is created.
CREATE TABLE credentials (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
