-- Talaka's first schema. Timestamps are INTEGER milliseconds since the Unix epoch (UTC).
-- AUTOINCREMENT keeps ids from ever being reused, so an audit entry's target (`user:12`,
-- `session:7`) can never come to name a different record.

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT    NOT NULL UNIQUE,
    role                 TEXT    NOT NULL
        CHECK (role IN ('admin', 'coordinator', 'analyst', 'moderator', 'lawyer', 'observer')),
    password_hash        TEXT    NOT NULL,
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    created_at           INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 fingerprint of a session token is stored, never the token.
CREATE TABLE sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    token_fingerprint TEXT    NOT NULL UNIQUE,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE invites (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    token_fingerprint TEXT    NOT NULL UNIQUE,
    role              TEXT    NOT NULL
        CHECK (role IN ('admin', 'coordinator', 'analyst', 'moderator', 'lawyer', 'observer')),
    created_by        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    redeemed_at       INTEGER,
    redeemed_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    revoked           INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;

-- Keys are keyed hashes (HMAC under the installation key), never raw names or addresses.
CREATE TABLE login_failures (
    id  INTEGER PRIMARY KEY,
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor_kind    TEXT    NOT NULL CHECK (actor_kind IN ('user', 'cli', 'system', 'anonymous')),
    actor_user_id INTEGER,
    action        TEXT    NOT NULL,
    target        TEXT,
    detail        TEXT    NOT NULL DEFAULT ''
) STRICT;

-- The audit log is append-only: no row may ever be changed or removed.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- INSERT OR REPLACE deletes the old row without firing delete triggers: refuse a taken id.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 0),
    run_at       INTEGER NOT NULL,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_claim ON jobs (status, run_at);
CREATE INDEX jobs_lease ON jobs (status, locked_until);
