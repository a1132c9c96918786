-- Keyward OAuth 1.0a provider stores (PostgreSQL). Times are seconds since the Unix epoch.
CREATE TABLE keyward_oauth1_clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    client_secret TEXT NOT NULL,
    rsa_public_key TEXT,
    default_redirect_uri TEXT,
    -- space-separated signature methods; NULL means the provider's allow-list
    allowed_signature_methods TEXT,
    name TEXT
);

CREATE TABLE keyward_oauth1_temporary_credentials (
    token TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    client_id TEXT NOT NULL,
    callback_uri TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    user_id TEXT,
    verifier TEXT
);
CREATE INDEX keyward_oauth1_temporary_credentials_expires_at
    ON keyward_oauth1_temporary_credentials (expires_at);

CREATE TABLE keyward_oauth1_token_credentials (
    token TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX keyward_oauth1_token_credentials_user ON keyward_oauth1_token_credentials (client_id, user_id);

-- token is '' on temporary-credential requests (no oauth_token).
CREATE TABLE keyward_oauth1_nonces (
    client_id TEXT NOT NULL,
    token TEXT NOT NULL,
    ts BIGINT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, token, ts, nonce)
);
CREATE INDEX keyward_oauth1_nonces_expires_at ON keyward_oauth1_nonces (expires_at);
