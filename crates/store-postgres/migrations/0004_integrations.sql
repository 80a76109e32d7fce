-- Integrations: programs that send participants' reports through the JSON API, each with its
-- own bearer token. Only the token's SHA-256 fingerprint is stored. Revoked, never deleted.
CREATE TABLE integrations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    token_fingerprint TEXT NOT NULL UNIQUE CHECK (token_fingerprint ~ '^[0-9a-f]{64}$'),
    all_elections BOOLEAN NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- The elections an integration without `all_elections` may report to, by code.
CREATE TABLE integration_elections (
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    election_code TEXT NOT NULL CHECK (election_code <> ''),
    PRIMARY KEY (integration_id, election_code)
);
