-- Signed-in sessions: only the SHA-256 of the cookie's token is stored, beside the CSRF token
-- the session's unsafe requests must echo.
CREATE TABLE sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_email TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_email);
