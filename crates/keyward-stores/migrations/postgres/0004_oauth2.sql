-- Keyward OAuth 2 authorization server stores (PostgreSQL). Times are seconds since the Unix
-- epoch. Codes and tokens are keyed by the lowercase hex SHA-256 of their value: the value
-- itself is never stored.

-- A registered client: the whole record, as JSON.
CREATE TABLE keyward_oauth2_clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);

-- An authorization code: the whole record as JSON; `used` once taken (a tombstone until
-- `expires_at`, so that a second use is seen).
CREATE TABLE keyward_oauth2_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    record TEXT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX keyward_oauth2_codes_expires_at ON keyward_oauth2_codes (expires_at);

-- Access and refresh tokens; `scopes` and `resources` are JSON arrays. A revoked token
-- stays until `expires_at`, so that a rotated-out refresh token that comes back is seen.
CREATE TABLE keyward_oauth2_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    family_id TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    auth_time BIGINT,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX keyward_oauth2_tokens_family ON keyward_oauth2_tokens (family_id);
CREATE INDEX keyward_oauth2_tokens_subject ON keyward_oauth2_tokens (subject, client_id);
CREATE INDEX keyward_oauth2_tokens_expires_at ON keyward_oauth2_tokens (expires_at);

-- Consent grants, one per (subject, client); `scopes` and `resources` are JSON arrays;
-- `expires_at` NULL: until revoked.
CREATE TABLE keyward_oauth2_grants (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (subject, client_id)
);
CREATE INDEX keyward_oauth2_grants_expires_at ON keyward_oauth2_grants (expires_at);

-- Single-use values (the `jti` of client assertions, DPoP proofs, logout tokens), each
-- kept until it expires.
CREATE TABLE keyward_once (
    namespace TEXT NOT NULL,
    once_key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, once_key)
);
CREATE INDEX keyward_once_expires_at ON keyward_once (expires_at);
