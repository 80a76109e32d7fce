-- Talaka's first schema on PostgreSQL. Table and column names match the SQLite backend's.
-- Timestamps are BIGINT milliseconds since the Unix epoch (UTC), read from Talaka's clock.
-- Applied by `PgStore::migrate` inside one transaction; never edit it once released.

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL UNIQUE CHECK (username = lower(username)),
    role TEXT NOT NULL
        CHECK (role IN ('admin', 'coordinator', 'analyst', 'moderator', 'lawyer', 'observer')),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- Only SHA-256 fingerprints of session tokens are stored, never the tokens.
CREATE TABLE sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_fingerprint TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE invites (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_fingerprint TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL
        CHECK (role IN ('admin', 'coordinator', 'analyst', 'moderator', 'lawyer', 'observer')),
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT,
    redeemed_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);

-- Keys are keyed hashes (HMAC under the installation key), never raw names or addresses.
CREATE TABLE login_failures (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'cli', 'system', 'anonymous')),
    actor_user_id BIGINT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT ''
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END;
$$;

-- Statement-level, so that even an UPDATE or DELETE matching no row is refused.
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 0),
    run_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Claiming looks only at queued and running jobs, oldest due first.
CREATE INDEX jobs_claim ON jobs (run_at, id) WHERE status IN ('queued', 'running');
