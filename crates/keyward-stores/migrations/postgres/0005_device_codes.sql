-- The device authorization grant (RFC 8628) (PostgreSQL). Times are seconds since the Unix epoch.
-- Codes are kept only as the lowercase hex SHA-256 of their value.
CREATE TABLE keyward_oauth2_device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    -- unique among all rows: an expired row is deleted before its user code is reused
    user_code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- the scopes asked for, a JSON array
    scopes TEXT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll BIGINT,
    -- 1 when the last poll was answered slow_down (read back by the poll's RETURNING)
    slowed BIGINT NOT NULL DEFAULT 0,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- pending, approved, denied or taken
    status TEXT NOT NULL,
    -- the approval: who, which scopes (a JSON array), when they authenticated
    subject TEXT,
    granted_scopes TEXT,
    auth_time BIGINT
);
CREATE UNIQUE INDEX keyward_oauth2_device_codes_user_code
    ON keyward_oauth2_device_codes (user_code_hash);
CREATE INDEX keyward_oauth2_device_codes_expires_at
    ON keyward_oauth2_device_codes (expires_at);

-- Verification attempts per key (RFC 8628 §5.1), counted in fixed windows.
CREATE TABLE keyward_oauth2_device_attempts (
    attempt_key TEXT PRIMARY KEY NOT NULL,
    attempts BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX keyward_oauth2_device_attempts_expires_at
    ON keyward_oauth2_device_attempts (expires_at);
