-- Pushed authorization requests (RFC 9126) (SQLite). Times are seconds since the Unix epoch.
-- A request is kept under the lowercase hex SHA-256 of its request_uri's random part; the
-- record is the request as JSON. A use deletes the row (DELETE … RETURNING: taken once).
CREATE TABLE keyward_oauth2_pushed_requests (
    request_uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    record TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX keyward_oauth2_pushed_requests_expires_at
    ON keyward_oauth2_pushed_requests (expires_at);
