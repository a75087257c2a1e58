-- People who sign in, with their role and what they may see, and the audit log.
-- A password is stored only as its argon2id hash (PHC string format).
CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    role TEXT NOT NULL,
    -- 'own': the accounts the user owns; 'all': every account.
    book TEXT NOT NULL,
    -- Whether personal data (contact names and emails, user ids) is shown unmasked.
    pii BOOLEAN NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);

-- Append-only: logins, configuration changes, exports and privacy operations.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
