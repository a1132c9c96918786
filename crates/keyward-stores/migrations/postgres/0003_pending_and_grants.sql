-- A client's pending temporary credentials are counted (the per-client cap), and a user's
-- token credentials listed (the grants page).
CREATE INDEX keyward_oauth1_temporary_credentials_client
    ON keyward_oauth1_temporary_credentials (client_id, expires_at);
CREATE INDEX keyward_oauth1_token_credentials_by_user
    ON keyward_oauth1_token_credentials (user_id, created_at);
